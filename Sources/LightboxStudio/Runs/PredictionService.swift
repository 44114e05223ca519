import Foundation
import LightboxImaging
import LightboxWorkflows
import LightboxInterop

/// Classifies an uploaded picture with a run's model, with its heatmap; the picture is
/// admitted through the decoding gate like an upload and processed off the request threads.
struct PredictionService {
    let runs: RunManager
    let gate: DecodeGate

    func predict(run id: Int64, data: Data) async throws -> PredictionResponse {
        let predictor = try runs.predictor(run: id)
        let bytes = [UInt8](data)
        let (p, heatmap): (Predictor.Prediction, Data) = try await gate.admit(bytes, name: "the uploaded picture") {
            // The Predictor reads files: the picture goes to a private temporary one.
            // Readable by this user only: it is somebody's X-ray.
            let file = FileManager.default.temporaryDirectory.appendingPathComponent("lightbox-predict-\(UUID().uuidString)")
            defer { try? FileManager.default.removeItem(at: file) }
            guard FileManager.default.createFile(atPath: file.path, contents: data, attributes: [.posixPermissions: 0o600]) else {
                throw StudioError(.unavailable, "cannot write a temporary file for the prediction")
            }
            do { return try predictor.predictWithHeatmap(file.path) } catch { throw StudioError(.badRequest, "\(error)") }
        }
        return PredictionResponse(
            predicted: predictor.classes[p.predicted],
            probabilities: Dictionary(zip(predictor.classes, p.probabilities.map(Double.init)), uniquingKeysWith: { a, _ in a }),
            heatmap: "data:image/png;base64," + heatmap.base64EncodedString(),
            disclaimer: ModelBundle.disclaimer)
    }

    /// A stored image's heatmap through a finished run's model.
    func heatmap(run id: Int64, imagePath: URL) async throws -> Data {
        let predictor = try runs.predictor(run: id)
        let bytes = [UInt8](try Data(contentsOf: imagePath))
        return try await gate.admit(bytes, name: imagePath.lastPathComponent) {
            try predictor.predictWithHeatmap(imagePath.path).1
        }
    }
}
