import Foundation
import LightboxCore
import LightboxData
import LightboxHead
import LightboxImaging
import LightboxInterop
import LightboxModels

/// A trained model ready to classify image files: a Lightbox model bundle, or a Teachable
/// Machine TF.js export (folder or zip), with its decision rule.
public final class Predictor: @unchecked Sendable {
    public let classes: [String]
    /// The frozen part and the members, whatever trained them.
    public let model: TrainedModel
    /// How probabilities become the predicted class: the bundle's operating point, or argmax.
    public let decision: DecisionRule
    /// A Lightbox bundle's record of the pretrained weights it was trained on (part of the name
    /// of an ensemble's cached probabilities).
    public let baseWeightsSHA256: String?
    /// How a picture becomes the model's input.
    public var preprocessor: Preprocessor { model.preprocessor }
    public var decoder: ImageDecoder { model.decoder }

    /// `dicomWindow`: a window asked for (nil: the model's own), checked by `ModelBundle.apply(dicomWindow:)`;
    /// `settings`: the run's weights folder, pixel limit and threads.
    public init(model path: String, settings: LightboxSettings, dicomWindow: DICOMWindow? = nil, overrideDICOMWindow: Bool = false) throws {
        if ModelBundle.isBundle(path) {
            var bundle = try ModelBundle.read(from: path)
            try bundle.apply(dicomWindow: dicomWindow, override: overrideDICOMWindow, model: path)
            classes = bundle.classes
            model = try TrainedModel(bundle: bundle, settings: settings)
            decision = bundle.decisionRule
            baseWeightsSHA256 = bundle.backbone.weightsSHA256
        } else if TFJSLayersModel.isExport(path) {
            // A Teachable Machine export records no DICOM window: the one asked for, else `first`,
            // for its backbone's decoder too (what a sharded or cached pass decodes with).
            let export = try TeachableMachineExport.load(path, settings: settings, dicomWindow: dicomWindow ?? .first)
            classes = export.classes
            model = TrainedModel(frozen: export.backbone.embedder.network, members: [DenseHeadMember(export.head)],
                                 preprocessor: export.backbone.embedder.preprocessor, decoder: export.backbone.embedder.decoder,
                                 threads: settings.threads, backbone: export.backbone)
            decision = .argmax
            baseWeightsSHA256 = nil
        } else {
            throw WeightsError("\(path): neither a Lightbox model (\(ModelBundle.manifestName), or a zip of one) nor a Teachable Machine export (model.json or .zip)")
        }
    }

    /// A model already built (a run's, before or after its bundle is written) with its decision rule.
    public init(model: TrainedModel, classes: [String], decision: DecisionRule, baseWeightsSHA256: String?) {
        self.model = model
        self.classes = classes
        self.decision = decision
        self.baseWeightsSHA256 = baseWeightsSHA256
    }

    public struct Prediction: Sendable {
        public var path: String
        public var probabilities: [Float]
        public var predicted: Int
    }

    /// Class probabilities of each file, in order; files that cannot be decoded come back as
    /// errors. `blanking` blacks out part of every input (the shortcut audit): each picture's
    /// box in `blankingBoxes` (its lungs, fractions of the picture), else the central box.
    public func predict(_ paths: [String], blanking: InputBlanking = .none,
                        blankingBoxes: [String: LungBox] = [:]) throws -> [Result<Prediction, ImageDecodingError>] {
        let (kept, p, failed) = try model.predict(paths: paths, blanking: blanking, blankingBoxes: blankingBoxes)
        let byPath = Dictionary(predictions(probabilities: p, paths: kept).map { ($0.path, $0) }, uniquingKeysWith: { a, _ in a })
        let failures = Dictionary(failed.map { ($0.path, $0) }, uniquingKeysWith: { a, _ in a })
        return paths.map { path in
            if let p = byPath[path] { return .success(p) }
            return .failure(failures[path] ?? ImageDecodingError(path: path, reason: .unreadable("not processed")))
        }
    }

    /// Predictions from class probabilities already computed (`[paths.count, classes]`: an
    /// ensemble's merged shards), with this model's decision rule.
    public func predictions(probabilities p: [Float], paths: [String]) -> [Prediction] {
        let k = classes.count
        return paths.enumerated().map { r, path in
            let row = Array(p[(r * k)..<((r + 1) * k)])
            return Prediction(path: path, probabilities: row, predicted: decision.predicted(row))
        }
    }

    /// One image's prediction and the heatmap of its predicted class, from one forward pass.
    public func predictWithHeatmap(_ path: String) throws -> (Prediction, Data) {
        let e = try model.explain(paths: [path], decision: decision)[0]
        return (Prediction(path: path, probabilities: e.probabilities, predicted: e.predicted), e.png)
    }

    /// PNG of the model's input with the Grad-CAM heatmap for class `target`.
    public func heatmap(_ path: String, target: Int) throws -> Data {
        try model.explain(paths: [path], targets: [target])[0].png
    }
}
