import Foundation
import LightboxCore
import LightboxData
import LightboxModels

/// `lightbox audit`: the shortcut audit (ShortcutAudit) of a trained model on every usable
/// image of a data set, written as JSON when asked.
public enum AuditRun {
    public struct Request: Sendable {
        public var model: String
        public var data: DataSelection
        public var positiveClass: String?
        /// Where audit.json goes (nil: not written).
        public var output: String?
        /// A DICOM window asked for (nil: the model's own) and whether it may differ from the model's.
        public var dicomWindow: DICOMWindow?
        public var overrideDICOMWindow = false
        /// The box blanked: each picture's located lungs (default) or the fixed central box.
        public var box: AuditBox = .lungs
        /// The lung locator (nil: the shipped one) and what audit.json calls it.
        public var locator: LungLocator?
        public var locatorName = "shipped"
        /// The run context: cache folders, pixel limit, threads.
        public var settings: LightboxSettings

        public init(model: String, data: DataSelection, settings: LightboxSettings) {
            self.model = model
            self.data = data
            self.settings = settings
        }
    }

    public static func run(_ request: Request, reporter: Reporter = SilentReporter()) throws -> ShortcutAudit {
        let predictor = try Predictor(model: request.model, settings: request.settings, dicomWindow: request.dicomWindow,
                                      overrideDICOMWindow: request.overrideDICOMWindow)
        let (dataset, _) = try EvaluationRun.labeledData(request.data, classes: predictor.classes, settings: request.settings,
                                                           reporter: reporter)
        guard !dataset.images.isEmpty else {
            throw DatasetError("\(request.data.path): no images with the model's classes \(predictor.classes)")
        }
        let positive = try TrainingRun.positiveIndex(predictor.classes, requested: request.positiveClass)
        let lungs = try ShortcutAudit.lungs(request.box, locator: request.locator, name: request.locatorName,
                                            settings: request.settings, dicomWindow: predictor.decoder.dicomWindow)
        let audit = try ShortcutAudit.run(predictor: predictor, images: dataset.images, positive: positive, lungs: lungs,
                                          names: dataset.names) {
            reporter.note("audit: scoring \(dataset.images.count) images with \($0)")
        }
        if let output = request.output {
            let encoder = JSONEncoder()
            encoder.outputFormatting = [.prettyPrinted, .sortedKeys]
            try AtomicFile.write(try encoder.encode(audit), to: output)
        }
        return audit
    }
}
