import Foundation
import XCTest
import LightboxTestSupport
import LightboxImaging
import LightboxModels
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

    /// Writes `bundle`, exports it, runs ONNX Runtime on real X-rays and compares with `predict`.
    func check(_ bundle: ModelBundle) throws {
        let work = FileManager.default.temporaryDirectory.appendingPathComponent("onnx-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: work, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: work) }
        let model = work.appendingPathComponent("model")
        try bundle.write(to: model.path)
        let onnx = work.appendingPathComponent("model.onnx")
        try ONNXExporter.export(try ModelBundle.read(from: model.path), to: onnx.path, weightsFolder: TestSettings.weightsFolder)

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
        guard status == 0 else { return }
        let (runtime, shape) = try NPYFile.decode(try Data(contentsOf: output), source: output.path)
        XCTAssertEqual(shape, [images.count, 3])

        let ours = try predictor.predict(images).map { try $0.get().probabilities }
        var worst: Float = 0
        for (i, row) in ours.enumerated() { for c in 0..<3 { worst = max(worst, abs(row[c] - runtime[i * 3 + c])) } }
        XCTAssertLessThan(worst, 1e-4, "max |probability difference| Lightbox vs ONNX Runtime")
        let spread = ours.map { $0.max()! - $0.min()! }.max()!
        XCTAssertGreaterThan(spread, 0.1, "the probabilities differ between classes, so the comparison means something")
    }
}
