import Foundation
import LightboxCore
import LightboxHead
import LightboxImaging
import LightboxModels
import LightboxTestSupport
import XCTest
@testable import LightboxInterop
@testable import LightboxWorkflows

/// The lungs-only crop in a bundle: recorded (kind, margin, the locator's digest, and the
/// locator's file when it is not the shipped one), read back, built into the model; bundles
/// without it read as whole pictures; broken records are refused naming the file.
final class LungCropBundleTests: TemporaryFolderTestCase {
    func manifest(_ folder: URL) throws -> [String: Any] {
        try JSONSerialization.jsonObject(with: Data(contentsOf: folder.appendingPathComponent(ModelBundle.manifestName))) as! [String: Any]
    }

    /// A locator that is not the shipped one: the shipped weights with other biases.
    func otherLocator() throws -> Data {
        let shipped = try LungLocator.shipped()
        return try LungLocator(weights: shipped.weights, bias: shipped.bias.map { $0 + 0.01 }, backbone: shipped.backbone,
                               metadata: shipped.metadata).encoded()
    }

    func testCropRoundTripsAndOldBundlesReadAsWholePictures() throws {
        // Without the crop: no key, the version a single head always had, read as whole pictures.
        let plain = work.appendingPathComponent("plain")
        try InteropFixtures.bundle().write(to: plain.path)
        XCTAssertNil(try manifest(plain)["crop"])
        XCTAssertEqual(try manifest(plain)["format_version"] as? Int, 1)
        let old = try ModelBundle.read(from: plain.path)
        XCTAssertNil(old.crop)
        XCTAssertNil(try TrainedModel(bundle: old, settings: TestSettings.local).crop)
        XCTAssertNoThrow(try old.checkExportable(model: plain.path))

        // The shipped locator: recorded by digest only.
        var shipped = try InteropFixtures.bundle()
        shipped.crop = ModelBundle.Crop(margin: 0.05, locatorSHA256: LungLocator.shippedSHA256, locatorFile: nil)
        let folder = work.appendingPathComponent("shipped")
        try shipped.write(to: folder.path)
        let json = try manifest(folder)
        XCTAssertEqual(json["format_version"] as? Int, 5)
        let record = try XCTUnwrap(json["crop"] as? [String: Any])
        XCTAssertEqual(record.keys.sorted(), ["kind", "locator_sha256", "margin"])
        XCTAssertEqual(record["kind"] as? String, "lungs")
        let read = try ModelBundle.read(from: folder.path)
        XCTAssertEqual(read.crop, shipped.crop)
        let model = try TrainedModel(bundle: read, settings: TestSettings.local)
        XCTAssertEqual(model.crop?.margin, 0.05)
        XCTAssertEqual(model.crop?.locatorSHA256, LungLocator.shippedSHA256)
        XCTAssertTrue(model.cachedBackbone?.embedder.crop === model.crop, "the cached pass crops as the model does")
        XCTAssertThrowsError(try read.checkExportable(model: "M")) {
            XCTAssertTrue("\($0)".hasPrefix("M: the model expects each picture cropped to its lungs"), "\($0)")
        }

        // Another locator travels in the bundle and is what the model uses.
        let data = try otherLocator()
        var custom = try InteropFixtures.bundle()
        custom.crop = ModelBundle.Crop(margin: 0.1, locatorSHA256: SHA256.hex(data), locatorFile: data)
        let customFolder = work.appendingPathComponent("custom")
        try custom.write(to: customFolder.path)
        XCTAssertEqual((try manifest(customFolder)["crop"] as? [String: Any])?["locator"] as? String, "lung-locator.safetensors")
        XCTAssertEqual(try Data(contentsOf: customFolder.appendingPathComponent("lung-locator.safetensors")), data)
        let customRead = try ModelBundle.read(from: customFolder.path)
        XCTAssertEqual(customRead.crop, custom.crop)
        let customModel = try TrainedModel(bundle: customRead, settings: TestSettings.local)
        XCTAssertEqual(customModel.crop?.locatorFile, data)
        XCTAssertEqual(customModel.crop?.finder.locator.bias, try LungLocator.shipped().bias.map { $0 + 0.01 })
    }

    /// Each broken or hostile crop record is refused on read with one error naming the file.
    func testBrokenCropRecordsAreRefusedNamingTheFile() throws {
        let data = try otherLocator()
        var bundle = try InteropFixtures.bundle()
        bundle.crop = ModelBundle.Crop(margin: 0.05, locatorSHA256: SHA256.hex(data), locatorFile: data)
        let folder = work.appendingPathComponent("model")
        try bundle.write(to: folder.path)
        let manifestURL = folder.appendingPathComponent(ModelBundle.manifestName)
        let good = try Data(contentsOf: manifestURL)
        func refused(_ edit: (inout [String: Any]) -> Void, _ words: String, file: String? = nil, line: UInt = #line) throws {
            var json = try JSONSerialization.jsonObject(with: good) as! [String: Any]
            edit(&json)
            try JSONSerialization.data(withJSONObject: json).write(to: manifestURL)
            XCTAssertThrowsError(try ModelBundle.read(from: folder.path), line: line) {
                XCTAssertEqual("\($0)", "\(file ?? manifestURL.path): \(words)", line: line)
            }
        }
        func setCrop(_ key: String, _ value: Any?) -> (inout [String: Any]) -> Void {
            { json in var c = json["crop"] as! [String: Any]; c[key] = value; json["crop"] = c }
        }
        try refused(setCrop("kind", "eyes"), "crop kind 'eyes' is not one this Lightbox reads (lungs)")
        try refused(setCrop("margin", 7), "crop margin 7.0 is not a number from 0.0 to 0.5")
        try refused(setCrop("locator_sha256", "abc"), "crop locator_sha256 is not a SHA-256 digest (64 lowercase hex characters)")
        try refused(setCrop("locator", "../lung-locator.safetensors"),
                    "crop locator '../lung-locator.safetensors' is not lung-locator.safetensors in the model folder")
        try refused(setCrop("locator", nil),
                    "the pictures were cropped with a lung locator (SHA-256 \(SHA256.hex(data).prefix(16))...) that is neither the one shipped with this Lightbox nor in the model folder")
        try refused({ $0["format_version"] = 4 }, "crop needs format version 5 or later (the manifest says 4)")
        // The locator file changed after the bundle was written.
        let locatorURL = folder.appendingPathComponent("lung-locator.safetensors")
        try Data(data.dropLast()).write(to: locatorURL)
        try refused({ _ in }, "the lung locator's SHA-256 is not the one the manifest records: the file was changed or damaged",
                    file: locatorURL.path)
        try FileManager.default.removeItem(at: locatorURL)
        try refused({ _ in }, "lung locator missing", file: locatorURL.path)
    }

    /// The whole-picture run beside a lungs-only run: only a sibling with crop none (or none
    /// recorded), the same method and design and an AUC counts, the newest first; the sentence
    /// says a drop, or none, and whether the intervals overlap.
    func testWholePictureRunBesideAndTheSentence() throws {
        let runs = work.appendingPathComponent("runs")
        func run(_ name: String, _ json: [String: Any], age: TimeInterval) throws {
            let folder = runs.appendingPathComponent(name)
            try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
            let file = folder.appendingPathComponent("metrics.json")
            try JSONSerialization.data(withJSONObject: json).write(to: file)
            try FileManager.default.setAttributes([.modificationDate: Date(timeIntervalSinceNow: -age)], ofItemAtPath: file.path)
        }
        let design: [String: Any] = ["method": "head", "folds": 5, "evaluation": "out-of-fold"]
        try run("old-whole", design.merging(["auc": 0.7, "auc_ci": [0.6, 0.8]]) { _, b in b }, age: 100)
        try run("new-whole", design.merging(["auc": 0.9, "auc_ci": [0.85, 0.95], "crop": "none"]) { _, b in b }, age: 10)
        try run("lungs-before", design.merging(["auc": 0.99, "crop": "lungs"]) { _, b in b }, age: 1)
        try run("finetuned", design.merging(["auc": 0.98, "method": "finetune"]) { _, b in b }, age: 1)
        try run("one-split", design.merging(["auc": 0.97, "folds": 1]) { _, b in b }, age: 1)
        try run("lungs", design.merging(["auc": 0.5]) { _, b in b }, age: 0)
        let own = runs.appendingPathComponent("lungs").path
        let found = try XCTUnwrap(TrainingRun.wholePictureRun(besides: own, method: .head, folds: 5, evaluation: "out-of-fold"))
        XCTAssertEqual(found, RunDocument.CropComparison(run: "new-whole", auc: 0.9, aucCI: [0.85, 0.95]))
        XCTAssertNil(TrainingRun.wholePictureRun(besides: own, method: .finetune, folds: 2, evaluation: "out-of-fold"))

        // 10 positives and 10 negatives of separate patients, scored with some overlap.
        let labels = (0..<20).map { $0 < 10 ? 0 : 1 }
        let scores: [Float] = (0..<20).map { i in i < 10 ? 0.3 + 0.05 * Float(i) : 0.2 + 0.05 * Float(i - 10) }
        let lungs = ClassificationMetrics(classes: ["A", "B"], labels: labels, probabilities: scores.flatMap { [$0, 1 - $0] },
                                          groups: (0..<20).map { "p\($0)" }, positive: 0)
        let lungsAUC = try XCTUnwrap(lungs.auc)
        let drop = TrainingRun.cropSentence(found, lungs: lungs, scope: "out-of-fold")
        XCTAssertTrue(drop.hasPrefix("Trained on whole pictures (run new-whole), the same recipe scored AUC 0.900 (95% interval 0.850-0.950) on its out-of-fold pictures; on the lungs alone, \(String(format: "%.3f", lungsAUC))"), drop)
        XCTAssertTrue(drop.contains("A drop means the whole-picture model partly read what lies outside the lungs"), drop)
        let overlaps = lungs.aucCI.map { $0[1] >= 0.85 } ?? false
        XCTAssertEqual(drop.contains("The two intervals overlap"), overlaps, drop)
        let lower = RunDocument.CropComparison(run: "weak", auc: lungsAUC - 0.2, aucCI: nil)
        let noDrop = TrainingRun.cropSentence(lower, lungs: lungs, scope: "out-of-fold")
        XCTAssertTrue(noDrop.contains("The lungs alone scored no lower"), noDrop)
        XCTAssertFalse(noDrop.contains("A drop means"), noDrop)
        // Less than a hundredth lower is no drop (the developer data's default run: 0.679 whole, 0.678 lungs).
        let same = TrainingRun.cropSentence(RunDocument.CropComparison(run: "same", auc: lungsAUC + 0.001, aucCI: nil), lungs: lungs,
                                            scope: "out-of-fold")
        XCTAssertTrue(same.contains("The lungs alone scored about the same (0.001 lower)"), same)
        XCTAssertFalse(same.contains("A drop means"), same)
    }
}
