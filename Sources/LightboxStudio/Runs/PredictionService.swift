import Foundation
import LightboxHead
import LightboxImaging
import LightboxWorkflows
import LightboxInterop

/// Classifies an uploaded picture with a run's model, with its heatmap; the picture is
/// admitted through the decoding gate like an upload and processed off the request threads.
struct PredictionService {
    let runs: RunManager
    let gate: DecodeGate

    func predict(run id: Int64, data: Data, stillWanted: @escaping @Sendable () -> Bool = { true }) async throws -> PredictionResponse {
        let predictor = try runs.predictor(run: id)
        let bytes = [UInt8](data)
        let (p, heatmap): (Predictor.Prediction, Data) = try await gate.admit(bytes, name: "the uploaded picture", stillWanted: stillWanted) {
            // The Predictor reads files: the picture goes to a private temporary one.
            // Readable by this user only: it is somebody's X-ray.
            let file = FileManager.default.temporaryDirectory.appendingPathComponent("lightbox-predict-\(UUID().uuidString)")
            defer { try? FileManager.default.removeItem(at: file) }
            guard FileManager.default.createFile(atPath: file.path, contents: data, attributes: [.posixPermissions: 0o600]) else {
                throw StudioError(.unavailable, "cannot write a temporary file for the prediction")
            }
            do { return try predictor.predictWithHeatmap(file.path) } catch { throw StudioError(.badRequest, "\(error)") }
        }
        // The rule that turned the probabilities into the answer: the operating point, or argmax.
        let point = predictor.decision.positive == nil ? nil : predictor.decision.operatingPoint
        return PredictionResponse(
            predicted: predictor.classes[p.predicted],
            probabilities: Dictionary(zip(predictor.classes, p.probabilities.map(Double.init)), uniquingKeysWith: { a, _ in a }),
            heatmap: "data:image/png;base64," + heatmap.base64EncodedString(),
            disclaimer: ModelBundle.disclaimer,
            threshold: point?.threshold,
            positiveClass: point?.positiveClass)
    }

    /// A stored image's heatmap through a finished run's model: for a picture a cross-fitted run
    /// scored out of fold (`fold`, 1-K), through the model of its fold, which never saw its
    /// patient and gave the answer the confusion matrix counts; else through the whole model.
    func heatmap(run id: Int64, imagePath: URL, fold: Int? = nil, stillWanted: @escaping @Sendable () -> Bool = { true }) async throws -> Data {
        let predictor = try fold.flatMap { try runs.predictor(run: id, fold: $0) } ?? runs.predictor(run: id)
        let bytes = [UInt8](try Data(contentsOf: imagePath))
        return try await gate.admit(bytes, name: imagePath.lastPathComponent, stillWanted: stillWanted) {
            try predictor.predictWithHeatmap(imagePath.path).1
        }
    }
}
