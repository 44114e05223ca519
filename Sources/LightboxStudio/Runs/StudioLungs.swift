import Foundation
import LightboxCore
import LightboxImaging
import LightboxModels

/// The lung box the Predict panel draws on its heatmap: the shipped lung locator on the uploaded
/// picture, placed into the model's input square (what the heatmap shows) by the model's resize
/// policy. Built once, on first use; one picture at a time (a prediction's other work is batched,
/// this pass is small).
final class StudioLungs: @unchecked Sendable {
    private let settings: LightboxSettings
    private let lock = NSLock()
    private var finder: Result<LungFinder, Error>?

    init(settings: LightboxSettings) { self.settings = settings }

    /// The box of the picture `bytes` as fractions of `preprocessor`'s square, and in the picture's
    /// own pixels. Throws what decoding or the locator throws.
    /// A model trained on pictures cropped to their lungs (`crop`) shows the cropped picture: the
    /// box is placed into it, with the model's own locator.
    func locate(_ bytes: [UInt8], name: String, for preprocessor: Preprocessor, crop: LungCrop?, dicomWindow: DICOMWindow) throws -> PredictionLungs {
        lock.lock(); defer { lock.unlock() }
        if finder == nil { finder = Result { try LungFinder.pretrained(settings: settings, dicomWindow: dicomWindow) } }
        let finder = try crop?.finder ?? self.finder!.get()
        // The picture's own size (upright) from its header; the pixels reduced for the locator's square.
        let decoder = ImageDecoder(maxPixels: settings.maxPixels, dicomWindow: dicomWindow)
        let header = try decoder.probe(data: bytes, path: name)
        let image = try decoder.decode(data: bytes, path: name, reduceFor: finder.preprocessor.decodeTarget)
        let box = try finder.boxes([image])[0]
        let square = LungCrop.inInputSquare(box, width: image.width, height: image.height, preprocessor: preprocessor, crop: crop)
        return PredictionLungs(square: [square.x0, square.y0, square.x1, square.y1],
                               box: box.pixels(width: header.width, height: header.height).map { ($0 * 10).rounded() / 10 },
                               width: header.width, height: header.height)
    }
}

/// `lungs` of a prediction: where the locator found the lungs.
struct PredictionLungs: Encodable, Equatable {
    /// `[x0, y0, x1, y1]` as fractions of the heatmap (the model's input square).
    var square: [Double]
    /// `[x0, y0, x1, y1]` in the uploaded picture's own pixels.
    var box: [Double]
    var width: Int
    var height: Int
}
