import Foundation
import LightboxCore
import LightboxImaging

/// What a model's pictures are cropped to before the usual resize: the whole picture (`none`,
/// every model before `lightbox train --crop lungs`), or the box around both lungs the lung
/// locator predicts, grown by a margin (`lungs`).
public enum PictureCrop: String, Sendable, CaseIterable, Codable {
    case none, lungs
}

/// The lungs-only crop: each decoded picture's lung box (`LungFinder`, one pass of the
/// pretrained MobileNetV2 per picture), grown by `margin` of its size on every side, cut out of
/// the picture before the model's resize. Carried by `ImageEmbedder` and `TrainedModel`, so that
/// training, predict, evaluate, the audit and the Studio crop alike; nil there: whole pictures.
public final class LungCrop: @unchecked Sendable {
    public let finder: LungFinder
    /// Share of the box's width and height added on every side (`LungBox.margin`).
    public let margin: Double
    /// SHA-256 of the locator file (`LungLocator.shippedSHA256` for the shipped one).
    public let locatorSHA256: String
    /// The locator file's bytes when it is not the shipped one (a bundle carries them); nil: shipped.
    public let locatorFile: Data?

    public init(finder: LungFinder, margin: Double = LungBox.margin, locatorSHA256: String, locatorFile: Data?) {
        self.finder = finder
        self.margin = margin
        self.locatorSHA256 = locatorSHA256
        self.locatorFile = locatorFile
    }

    /// The crop with the locator in `file` (nil: the shipped one), on the pretrained MobileNetV2
    /// of `settings`, for pictures windowed with `dicomWindow`.
    public static func load(locatorFile file: Data?, source: String, margin: Double = LungBox.margin, settings: LightboxSettings,
                            dicomWindow: DICOMWindow) throws -> LungCrop {
        let locator = try file.map { try LungLocator.decode($0, source: source) } ?? LungLocator.shipped()
        let sha = file.map { SHA256.hex($0) } ?? LungLocator.shippedSHA256
        // The shipped locator's bytes need not travel: every Lightbox has them.
        let carried = sha == LungLocator.shippedSHA256 ? nil : file
        return LungCrop(finder: try LungFinder.pretrained(settings: settings, dicomWindow: dicomWindow, locator: locator),
                        margin: margin, locatorSHA256: sha, locatorFile: carried)
    }

    /// What cache keys add for cropped pictures: the kind, the margin and the locator.
    public var identity: String { "crop=lungs@\(margin)@\(locatorSHA256)" }

    /// What the decoders may reduce a picture to before it is cropped: twice the model's input
    /// side, so that the lungs' box still covers the input after the crop.
    public func decodeTarget(for preprocessor: Preprocessor) -> DecodeTarget {
        DecodeTarget(size: preprocessor.size * 2, policy: preprocessor.policy)
    }

    /// Each picture's lung box grown by the margin (fractions of that picture).
    public func boxes(_ images: [RGBImage]) throws -> [LungBox] {
        try finder.boxes(images).map { $0.expanded(by: margin) }
    }

    /// Where a picture's lung box (fractions of the `width` x `height` picture) lies in the input
    /// square of a model with `preprocessor` and `crop`: for a cropped model, inside the crop the
    /// model reads (the box grown by the crop's margin, cut to pixels), else in the whole picture.
    /// What the heatmaps show, so the Studio's box and the audit's heatmap mass both come from here.
    public static func inInputSquare(_ box: LungBox, width: Int, height: Int, preprocessor: Preprocessor, crop: LungCrop?) -> LungBox {
        guard let crop else { return preprocessor.inSquare(box, width: width, height: height) }
        let region = box.expanded(by: crop.margin)
        let pixels = region.region(width: width, height: height)
        return preprocessor.inSquare(box.within(region), width: pixels.width, height: pixels.height)
    }

    /// Each picture cut to its box (`boxes`), and the box.
    public func cropped(_ images: [RGBImage]) throws -> [(image: RGBImage, box: LungBox)] {
        zip(images, try boxes(images)).map { image, box in (image.cropped(to: box.region(width: image.width, height: image.height)), box) }
    }
}

extension LungBox {
    /// This box (fractions of a whole picture) as fractions of the part `crop` of that picture
    /// (what the picture was cut to), clipped to it.
    public func within(_ crop: LungBox) -> LungBox {
        guard crop.width > 0, crop.height > 0 else { return self }
        return LungBox(x0: (x0 - crop.x0) / crop.width, y0: (y0 - crop.y0) / crop.height,
                       x1: (x1 - crop.x0) / crop.width, y1: (y1 - crop.y0) / crop.height).clamped()
    }
}
