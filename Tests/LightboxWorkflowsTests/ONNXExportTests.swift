import Foundation
import XCTest
import LightboxTestSupport
import LightboxImaging
import LightboxModels
import LightboxHead
import LightboxONNX
import SwiftProtobuf
@testable import LightboxWorkflows
@testable import LightboxInterop

/// The ONNX export, run in ONNX Runtime (PyPI, installed by scripts/test.sh) on real X-rays,
/// gives Lightbox's probabilities within 1e-4.
final class ONNXExportTests: XCTestCase {
    func testOnnxRuntimeMatchesLightbox() throws {
        try check(try InteropFixtures.bundle())
    }

    /// A fine-tuned ensemble of two members (heads scaled up so the classes differ clearly):
    /// one ONNX graph, the members averaged inside it, as `predict` averages them.
    func testFineTunedEnsembleInOnnxRuntime() throws {
        try check(try InteropFixtures.fineTunedBundle())
    }

    /// An ensemble of three dense heads (`--method head --ensemble 3`): one graph, the backbone
    /// once, each head on the pooled embedding, their probabilities averaged (`Mean`).
    func testHeadEnsembleInOnnxRuntime() throws {
        try check(try InteropFixtures.headEnsembleBundle())
    }

    /// A calibrated head and a calibrated fine-tuned ensemble: the temperature is in the graph
    /// (after the members' mean), so ONNX Runtime gives `predict`'s calibrated probabilities; the
    /// metadata records it beside the operating point; the same bundle uncalibrated exports the
    /// graph without those nodes.
    func testCalibratedModelsInOnnxRuntime() throws {
        for (fixture, temperature) in [(try InteropFixtures.bundle(), 0.6), (try InteropFixtures.fineTunedBundle(), 1.5)] {
            var bundle = fixture
            bundle.calibration = TemperatureScaling(temperature: temperature)
            let calibrated = try check(bundle)
            let plain = try check(fixture)
            let metadata = Dictionary(uniqueKeysWithValues: calibrated.metadataProps.map { ($0.key, $0.value) })
            XCTAssertEqual(metadata["calibration"], #"{"in_graph":true,"method":"temperature","temperature":\#(temperature)}"#)
            XCTAssertNil(plain.metadataProps.first { $0.key == "calibration" })
            XCTAssertEqual(calibrated.graph.node.suffix(4).map(\.opType), ["Max", "Log", "Div", "Softmax"])
            XCTAssertEqual(calibrated.graph.node.last?.output, ["probabilities"])
            XCTAssertFalse(plain.graph.node.contains { $0.name.hasPrefix("calibration_") || $0.output.contains("uncalibrated_probabilities") })
            // The rest of the graph is the uncalibrated one, its last node renamed.
            XCTAssertEqual(calibrated.graph.node.count, plain.graph.node.count + 4)
            XCTAssertEqual(calibrated.graph.node.dropLast(4).map(\.opType), plain.graph.node.map(\.opType))
            XCTAssertEqual(plain.graph.node.last?.output, ["probabilities"])
        }
    }

    /// Writes `bundle`, exports it, runs ONNX Runtime on real X-rays and compares with `predict`;
    /// returns the exported model.
    @discardableResult
    func check(_ bundle: ModelBundle) throws -> Onnx_ModelProto {
        let work = FileManager.default.temporaryDirectory.appendingPathComponent("onnx-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: work, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: work) }
        let model = work.appendingPathComponent("model")
        try bundle.write(to: model.path)
        let onnx = work.appendingPathComponent("model.onnx")
        try ONNXExporter.export(try ModelBundle.read(from: model.path), to: onnx.path, weightsFolder: TestSettings.weightsFolder)
        let exported = try Onnx_ModelProto(serializedBytes: try Data(contentsOf: onnx))

        // The model's input: each image decoded and resized as Lightbox does, NCHW pixels.
        let predictor = try Predictor(model: model.path, settings: TestSettings.local)
        let p = predictor.preprocessor, decoder = predictor.decoder
        let images = InteropFixtures.images()
        var pixels: [Float] = []
        for path in images {
            let square = p.resized(try decoder.decode(file: path, reduceFor: p.decodeTarget))
            for c in 0..<3 { for y in 0..<p.size { for x in 0..<p.size { pixels.append(square[x, y, c]) } } }
        }
        let input = work.appendingPathComponent("in.npy"), output = work.appendingPathComponent("out.npy")
        try NPYFile.encode(pixels, shape: [images.count, 3, p.size, p.size]).write(to: input)

        let script = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
            .deletingLastPathComponent().appendingPathComponent("scripts/reference/onnxruntime_predict.py")
        let (status, message) = try ReferenceScript.run("/usr/bin/env", ["python3", script.path, onnx.path, input.path, output.path])
        XCTAssertEqual(status, 0, "ONNX Runtime failed (scripts/test.sh installs it): \(message)")
        guard status == 0 else { return exported }
        let (runtime, shape) = try NPYFile.decode(try Data(contentsOf: output), source: output.path)
        XCTAssertEqual(shape, [images.count, 3])

        let ours = try predictor.predict(images).map { try $0.get().probabilities }
        var worst: Float = 0
        for (i, row) in ours.enumerated() { for c in 0..<3 { worst = max(worst, abs(row[c] - runtime[i * 3 + c])) } }
        XCTAssertLessThan(worst, 1e-4, "max |probability difference| Lightbox vs ONNX Runtime")
        let spread = ours.map { $0.max()! - $0.min()! }.max()!
        XCTAssertGreaterThan(spread, 0.1, "the probabilities differ between classes, so the comparison means something")
        return exported
    }
}
