import Foundation
import LightboxData
import LightboxImaging
import LightboxModels

/// A trained model ready to classify image files.
public final class Predictor: @unchecked Sendable {
    public let bundle: ModelBundle
    public let backbone: Backbone

    public init(modelDirectory: String) throws {
        bundle = try ModelBundle.read(from: modelDirectory)
        backbone = try Backbone.matching(bundle)
    }

    public struct Prediction: Sendable {
        public var path: String
        public var probabilities: [Float]
        public var predicted: Int
    }

    /// Class probabilities of each file, in order; files that cannot be decoded come back as errors.
    public func predict(_ paths: [String]) throws -> [Result<Prediction, ImageDecodingError>] {
        let result = try backbone.embedder.embed(paths: paths)
        let k = bundle.classes.count
        var byPath: [String: Prediction] = [:]
        if !result.paths.isEmpty {
            let p = bundle.head.predict(result.embeddings, rows: result.paths.count)
            for (r, path) in result.paths.enumerated() {
                let row = Array(p[(r * k)..<((r + 1) * k)])
                byPath[path] = Prediction(path: path, probabilities: row, predicted: row.indices.max { row[$0] < row[$1] }!)
            }
        }
        let failures = Dictionary(result.failures.map { ($0.path, $0) }, uniquingKeysWith: { a, _ in a })
        return paths.map { path in
            if let p = byPath[path] { return .success(p) }
            return .failure(failures[path] ?? ImageDecodingError(path: path, reason: .unreadable("not processed")))
        }
    }

    /// PNG of the model's input with the Grad-CAM heatmap for class `target`.
    public func heatmap(_ path: String, target: Int) throws -> Data {
        try HeatmapExamples.render(path: path, target: target, head: bundle.head, backbone: backbone)
    }
}
