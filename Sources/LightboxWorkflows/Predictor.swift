import Foundation
import LightboxCore
import LightboxData
import LightboxHead
import LightboxImaging
import LightboxInterop
import LightboxModels

/// A trained model ready to classify image files: a Lightbox model bundle, or a Teachable
/// Machine TF.js export (folder or zip).
public final class Predictor: @unchecked Sendable {
    public let classes: [String]
    /// The dense head (the head method and Teachable Machine exports); nil for a fine-tuned model.
    public let head: DenseHead?
    /// The fine-tuned ensemble of a model trained with `--method finetune`.
    public let fineTuned: FineTunedModel?
    /// The frozen backbone of a dense-head model; nil for a fine-tuned one, whose frozen modules
    /// are its own (building the whole network for it cost time and memory for nothing).
    public let backbone: Backbone?
    /// How probabilities become the predicted class: the bundle's operating point, or argmax.
    public let decision: DecisionRule
    /// A Lightbox bundle's record of the pretrained weights it was trained on (for a fine-tuned
    /// model, what its frozen modules are; part of the name of its cached probabilities).
    public let baseWeightsSHA256: String?
    /// How a picture becomes the model's input.
    public var preprocessor: Preprocessor { fineTuned?.preprocessor ?? backbone!.embedder.preprocessor }
    public var decoder: ImageDecoder { fineTuned?.decoder ?? backbone!.embedder.decoder }

    public init(model path: String) throws {
        if ModelBundle.isBundle(path) {
            let bundle = try ModelBundle.read(from: path)
            classes = bundle.classes
            head = bundle.head
            fineTuned = try bundle.fineTuned.map { try FineTunedModel(bundle: bundle, ensemble: $0) }
            backbone = fineTuned == nil ? try bundle.resolvedBackbone() : nil
            decision = bundle.decisionRule
            baseWeightsSHA256 = bundle.backbone.weightsSHA256
        } else if TFJSLayersModel.isExport(path) {
            let export = try TeachableMachineExport.load(path)
            classes = export.classes
            head = export.head
            fineTuned = nil
            backbone = export.backbone
            decision = .argmax
            baseWeightsSHA256 = nil
        } else {
            throw WeightsError("\(path): neither a Lightbox model (\(ModelBundle.manifestName), or a zip of one) nor a Teachable Machine export (model.json or .zip)")
        }
    }

    public struct Prediction: Sendable {
        public var path: String
        public var probabilities: [Float]
        public var predicted: Int
    }

    /// Class probabilities of each file, in order; files that cannot be decoded come back as
    /// errors. `blanking` blacks out part of every input (the shortcut audit).
    public func predict(_ paths: [String], blanking: InputBlanking = .none) throws -> [Result<Prediction, ImageDecodingError>] {
        let k = classes.count
        let (kept, p, failed): ([String], [Float], [ImageDecodingError])
        if let fineTuned {
            (kept, p, failed) = try fineTuned.predict(paths: paths, blanking: blanking)
        } else {
            let result = try backbone!.embedder.blanking(blanking).embed(paths: paths)
            (kept, p, failed) = (result.paths, result.paths.isEmpty ? [] : head!.predict(result.embeddings, rows: result.paths.count),
                                 result.failures)
        }
        var byPath: [String: Prediction] = [:]
        if !kept.isEmpty {
            for (r, path) in kept.enumerated() {
                let row = Array(p[(r * k)..<((r + 1) * k)])
                byPath[path] = Prediction(path: path, probabilities: row, predicted: decision.predicted(row))
            }
        }
        let failures = Dictionary(failed.map { ($0.path, $0) }, uniquingKeysWith: { a, _ in a })
        return paths.map { path in
            if let p = byPath[path] { return .success(p) }
            return .failure(failures[path] ?? ImageDecodingError(path: path, reason: .unreadable("not processed")))
        }
    }

    /// The predictions of a dense-head model from embeddings its backbone already made (rows of
    /// `embeddings`, one per path: the merged shards of a cluster job), as `predict` gives them.
    public func predictions(embeddings: [Float], paths: [String]) throws -> [Prediction] {
        guard let head, fineTuned == nil else { throw WeightsError("only a model with a dense head classifies embeddings; this one is fine-tuned") }
        guard !paths.isEmpty else { return [] }
        return predictions(probabilities: head.predict(embeddings, rows: paths.count), paths: paths)
    }

    /// Predictions from class probabilities already computed (`[paths.count, classes]`: a
    /// fine-tuned model's merged shards), with this model's decision rule.
    public func predictions(probabilities p: [Float], paths: [String]) -> [Prediction] {
        let k = classes.count
        return paths.enumerated().map { r, path in
            let row = Array(p[(r * k)..<((r + 1) * k)])
            return Prediction(path: path, probabilities: row, predicted: decision.predicted(row))
        }
    }

    /// One image's prediction and the heatmap of its predicted class, from one forward pass.
    public func predictWithHeatmap(_ path: String) throws -> (Prediction, Data) {
        let e = try fineTuned?.explain(paths: [path], decision: decision)[0]
            ?? HeatmapExamples.explain(paths: [path], decision: decision, head: head!, backbone: backbone!)[0]
        return (Prediction(path: path, probabilities: e.probabilities, predicted: e.predicted), e.png)
    }

    /// PNG of the model's input with the Grad-CAM heatmap for class `target`.
    public func heatmap(_ path: String, target: Int) throws -> Data {
        if let fineTuned { return try fineTuned.explain(paths: [path], targets: [target])[0].png }
        return try HeatmapExamples.render(path: path, target: target, head: head!, backbone: backbone!)
    }
}
