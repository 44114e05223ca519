import Foundation
import LightboxHead
import LightboxImaging
import LightboxWorkflows
import LightboxInterop

/// Classifies an uploaded picture with a run's model, with its heatmap unless asked not to: the
/// picture is decoded and preprocessed alone, admitted through the decoding gate like an upload,
/// then passes through the model together with the other pictures sent to the same run at the
/// same time (`PredictionBatcher`), off the request threads.
struct PredictionService {
    let runs: RunManager
    let gate: DecodeGate

    /// The `heatmap` query parameter of `POST /api/runs/:run/predict`: absent, `1` or `true`: with the
    /// heatmap (as before it existed); `0` or `false`: without. Anything else is refused.
    static func heatmapWanted(_ values: [String]) throws -> Bool {
        guard values.count <= 1 else { throw StudioError(.badRequest, "heatmap: give it once (1, true, 0 or false), not \(values.count) times") }
        guard let value = values.first else { return true }
        switch value {
        case "1", "true": return true
        case "0", "false": return false
        default: throw StudioError(.badRequest, "heatmap must be 1, true, 0 or false (with the heatmap or without), not \"\(value.prefix(40))\"")
        }
    }

    func predict(run id: Int64, data: Data, heatmap: Bool = true, stillWanted: @escaping @Sendable () -> Bool = { true }) async throws -> PredictionResponse {
        let predictor = try runs.predictor(run: id)
        let batcher = try runs.batcher(run: id)
        let bytes = [UInt8](data), gate = self.gate, name = "the uploaded picture", lungs = runs.lungs
        let located = LocatedLungs()
        let answer = try await batcher.predict(stillWanted: stillWanted) {
            let values = try await gate.admit(bytes, name: name, stillWanted: stillWanted) {
                let values: [Float]
                do { values = try predictor.model.input(data: bytes, name: name) } catch { throw StudioError(.badRequest, "\(error)") }
                // The lungs' box for the heatmap, from the same bytes while they are admitted; a
                // picture the model read is one the locator reads, so a failure here is the server's.
                if heatmap {
                    located.value = try lungs.locate(bytes, name: name, for: predictor.preprocessor, crop: predictor.model.crop,
                                                     dicomWindow: predictor.decoder.dicomWindow)
                }
                return values
            }
            return PictureInput(values: values, heatmap: heatmap)
        }
        // The rule that turned the probabilities into the answer: the operating point, or argmax.
        let point = predictor.decision.positive == nil ? nil : predictor.decision.operatingPoint
        return PredictionResponse(
            predicted: predictor.classes[answer.predicted],
            probabilities: Dictionary(zip(predictor.classes, answer.probabilities.map(Double.init)), uniquingKeysWith: { a, _ in a }),
            heatmap: answer.heatmap.map { "data:image/png;base64," + $0.base64EncodedString() },
            disclaimer: ModelBundle.disclaimer,
            threshold: point?.threshold,
            positiveClass: point?.positiveClass,
            lungs: located.value)
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

/// The box found while a picture was admitted, read after its answer (written once, before the
/// batcher's answer is awaited).
private final class LocatedLungs: @unchecked Sendable {
    var value: PredictionLungs?
}

/// A picture ready for the model's pass: its preprocessed values and whether its answer carries
/// a heatmap.
struct PictureInput: Sendable {
    var values: [Float]
    var heatmap: Bool
}

/// The batcher of one run's model: pictures in, answers out (`TrainedModel.explain(inputs:heatmaps:decision:)`).
typealias PictureBatcher = PredictionBatcher<PictureInput, TrainedModel.Answer>

extension PredictionBatcher where Input == PictureInput, Output == TrainedModel.Answer {
    /// Batches `predictor`'s passes.
    convenience init(predictor: Predictor) {
        self.init(pass: Self.pass(predictor))
    }

    /// One pass of `predictor` over pictures: their values side by side, one answer each.
    static func pass(_ predictor: Predictor) -> @Sendable ([PictureInput]) throws -> [TrainedModel.Answer] {
        { pictures in
            var inputs: [Float] = []
            inputs.reserveCapacity(pictures.reduce(0) { $0 + $1.values.count })
            for p in pictures { inputs += p.values }
            return try predictor.model.explain(inputs: inputs, heatmaps: pictures.map(\.heatmap), decision: predictor.decision)
        }
    }
}
