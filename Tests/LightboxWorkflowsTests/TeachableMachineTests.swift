import Foundation
import LightboxTestSupport
import XCTest
import LightboxModels
@testable import LightboxWorkflows

/// The real Teachable Machine export in ../shared: every training image lands in its own
/// folder's class, with probabilities within 1e-4 of an independent torch implementation of
/// the same Keras layers (scripts/reference/tfjs_reference.py, float64).
final class TeachableMachineTests: XCTestCase {
    static let export = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
        .deletingLastPathComponent().deletingLastPathComponent().appendingPathComponent("shared/models/teachable-machine-image")

    struct Reference: Decodable {
        struct Image: Decodable { var path: String; var label: String; var probabilities: [Double] }
        var labels: [String]
        var images: [Image]
    }

    func reference() throws -> Reference {
        let url = URL(fileURLWithPath: #filePath).deletingLastPathComponent().appendingPathComponent("Fixtures/tfjs_reference.json")
        return try JSONDecoder().decode(Reference.self, from: Data(contentsOf: url))
    }

    func testTrainingImagesAreClassifiedAsTorchDoes() throws {
        let reference = try reference()
        let predictor = try Predictor(model: Self.export.path, settings: TestSettings.local)
        XCTAssertEqual(predictor.classes, ["Class 1", "Class 2"])
        XCTAssertEqual(reference.images.count, 22)
        let paths = reference.images.map { Self.export.appendingPathComponent($0.path).path }
        let results = try predictor.predict(paths)
        var worst = 0.0
        for (image, result) in zip(reference.images, results) {
            let p = try result.get()
            XCTAssertEqual(predictor.classes[p.predicted], image.label, image.path)
            XCTAssertGreaterThan(Double(p.probabilities[p.predicted]), 0.9, "high confidence on its own training image")
            for (a, b) in zip(p.probabilities, image.probabilities) { worst = max(worst, abs(Double(a) - b)) }
        }
        XCTAssertLessThan(worst, 1e-4, "max |probability difference| against torch")
    }

    func testZipExportReadsTheSame() throws {
        let work = FileManager.default.temporaryDirectory.appendingPathComponent("tm-\(UUID().uuidString)")
        defer { try? FileManager.default.removeItem(at: work) }
        let folder = work.appendingPathComponent("export")
        try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
        for name in ["model.json", "weights.bin", "metadata.json"] {
            try FileManager.default.copyItem(at: Self.export.appendingPathComponent(name), to: folder.appendingPathComponent(name))
        }
        let zip = work.appendingPathComponent("tm.zip")
        try FileManager.default.zipItem(at: folder, to: zip, shouldKeepParent: false)
        let image = Self.export.appendingPathComponent("training-images/Class 1/3.png").path
        let fromZip = try Predictor(model: zip.path, settings: TestSettings.local).predict([image])[0].get()
        let fromFolder = try Predictor(model: Self.export.path, settings: TestSettings.local).predict([image])[0].get()
        XCTAssertEqual(fromZip.probabilities, fromFolder.probabilities)
    }

    func testBrokenExportsNameTheProblem() throws {
        let work = FileManager.default.temporaryDirectory.appendingPathComponent("tm-bad-\(UUID().uuidString)")
        defer { try? FileManager.default.removeItem(at: work) }
        try FileManager.default.createDirectory(at: work, withIntermediateDirectories: true)
        let json = try String(contentsOf: Self.export.appendingPathComponent("model.json"), encoding: .utf8)
        try json.write(to: work.appendingPathComponent("model.json"), atomically: true, encoding: .utf8)
        // A missing shard.
        XCTAssertThrowsError(try TFJSLayersModel.load(work.path)) { XCTAssertTrue("\($0)".contains("weights.bin"), "\($0)") }
        // A truncated shard.
        let weights = try Data(contentsOf: Self.export.appendingPathComponent("weights.bin"))
        try weights.prefix(1000).write(to: work.appendingPathComponent("weights.bin"))
        XCTAssertThrowsError(try TFJSLayersModel.load(work.path)) { XCTAssertTrue("\($0)".contains("truncated"), "\($0)") }
        // An unknown layer type is named.
        try weights.write(to: work.appendingPathComponent("weights.bin"))
        try json.replacingOccurrences(of: "\"class_name\": \"Add\"", with: "\"class_name\": \"Multiply\"")
            .replacingOccurrences(of: "\"class_name\":\"Add\"", with: "\"class_name\":\"Multiply\"")
            .write(to: work.appendingPathComponent("model.json"), atomically: true, encoding: .utf8)
        XCTAssertThrowsError(try TFJSLayersModel.load(work.path).backboneNetwork(parallelism: TestSettings.local.threads)) { error in
            XCTAssertTrue("\(error)".contains("Multiply") && "\(error)".contains("not supported"), "\(error)")
        }
    }
}
