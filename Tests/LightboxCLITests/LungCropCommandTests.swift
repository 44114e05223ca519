import Foundation
import LightboxCore
import LightboxImaging
import LightboxModels
import LightboxTestSupport
import XCTest

/// `lightbox train --crop lungs`: the bundle records the crop, `predict` crops each picture to
/// its lung box (plus the margin) before the resize, exports and shards refuse such a model.
final class LungCropCommandTests: TemporaryFolderTestCase {
    /// 8 + 8 noisy grey 288x224 pictures; class A carries a bright disc in the middle.
    func makeDataset() throws -> URL {
        let root = work.appendingPathComponent("data")
        var state: UInt64 = 0x2545F4914F6CDD1D
        func noise() -> UInt8 {
            state = state &* 6364136223846793005 &+ 1442695040888963407
            return UInt8(40 + (state >> 33) % 120)
        }
        let width = 288, height = 224
        for label in ["A", "B"] {
            let folder = root.appendingPathComponent(label)
            try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
            for n in 0..<8 {
                var grey = [UInt8](repeating: 0, count: width * height)
                for y in 0..<height {
                    for x in 0..<width {
                        let r = hypot(Double(x - width / 2), Double(y - height / 2))
                        grey[y * width + x] = label == "A" && r < 40 ? 240 : noise()
                    }
                }
                let png = try PNGEncoder.encode(rgb: grey.flatMap { [$0, $0, $0] }, width: width, height: height)
                try png.write(to: folder.appendingPathComponent("\(label)-\(n).png"))
            }
        }
        return root
    }

    func probabilities(_ outcome: CLI.Outcome, file: StaticString = #filePath, line: UInt = #line) throws -> [String: Double] {
        XCTAssertEqual(outcome.status, 0, outcome.stderr, file: file, line: line)
        let json = try JSONSerialization.jsonObject(with: Data(outcome.stdout.utf8))
        let records = (json as? [[String: Any]]) ?? ((json as? [String: Any])?["predictions"] as? [[String: Any]]) ?? []
        return try XCTUnwrap(records.first?["probabilities"] as? [String: Double], outcome.stdout, file: file, line: line)
    }

    func testLungsOnlyHeadRunCropsInPredictAndIsRefusedByExportAndShards() throws {
        let data = try makeDataset()
        let run = work.appendingPathComponent("runs/lungs")
        let train = try CLI.run(["train", "--method", "head", "--crop", "lungs", "--data", data.path, "--out", run.path, "--epochs", "3",
                                 "--folds", "1", "--split", "50/25/25", "--positive", "A"])
        XCTAssertEqual(train.status, 0, train.stderr)
        let model = run.appendingPathComponent("model")

        // The audit measures the heatmap in the cropped picture the model saw: there the lung box
        // fills the crop but for its margin (1/1.1 of each side, 83% of the area before any centre
        // crop cuts it), not its share of the whole picture.
        let audit = try XCTUnwrap(try JSONSerialization.jsonObject(with: Data(contentsOf: run.appendingPathComponent("audit.json"))) as? [String: Any])
        let mass = try XCTUnwrap(audit["heatmap_mass_in_lungs"] as? [String: Any], "\(audit.keys)")
        XCTAssertGreaterThan(try XCTUnwrap(mass["baseline"] as? Double), 0.75, "\(mass)")

        // The bundle records the crop: kind, margin, the shipped locator's digest (no file: shipped).
        let manifestURL = model.appendingPathComponent("lightbox-model.json")
        var manifest = try JSONSerialization.jsonObject(with: Data(contentsOf: manifestURL)) as! [String: Any]
        let crop = try XCTUnwrap(manifest["crop"] as? [String: Any], "\(manifest)")
        XCTAssertEqual(crop["kind"] as? String, "lungs")
        XCTAssertEqual(crop["margin"] as? Double, LungBox.margin)
        XCTAssertEqual(crop["locator_sha256"] as? String, LungLocator.shippedSHA256)
        XCTAssertNil(crop["locator"], "the shipped locator does not travel")
        XCTAssertEqual(manifest["format_version"] as? Int, 5)
        let metrics = try JSONSerialization.jsonObject(with: Data(contentsOf: run.appendingPathComponent("metrics.json"))) as! [String: Any]
        XCTAssertEqual(metrics["crop"] as? String, "lungs")
        XCTAssertNil(metrics["crop_comparison"], "no whole-picture run beside it")
        let report = try String(contentsOf: run.appendingPathComponent("report.html"), encoding: .utf8)
        XCTAssertTrue(report.contains("lungs: each picture cut to its predicted lung box"), "the report's parameters show the crop")

        // The same picture cropped by hand (decoded, located, grown by the margin, cut), then
        // predicted by a copy of the model without the crop: the same probabilities. All in fp32,
        // as the hand crop's locator here (the CLI's default is bf16 on a CPU with AVX-512 BF16).
        let picture = data.appendingPathComponent("A/A-3.png")
        let settings = LightboxSettings(environment: ProcessInfo.processInfo.environment)
        let lungCrop = try LungCrop.load(locatorFile: nil, source: "shipped", settings: settings, dicomWindow: .first)
        let image = try ImageDecoder(maxPixels: settings.maxPixels, dicomWindow: .first).decode(file: picture.path)
        let (cut, box) = try lungCrop.cropped([image])[0]
        XCTAssertTrue(cut.width < image.width || cut.height < image.height, "the box \(box) leaves part of the picture out")
        let handCropped = work.appendingPathComponent("hand-cropped.png")
        try PNGEncoder.encode(rgb: cut.pixels.map { UInt8($0) }, width: cut.width, height: cut.height).write(to: handCropped)
        let whole = work.appendingPathComponent("uncropped-copy")
        try FileManager.default.copyItem(at: model, to: whole)
        manifest["crop"] = nil
        try JSONSerialization.data(withJSONObject: manifest).write(to: whole.appendingPathComponent("lightbox-model.json"))

        let cropped = try probabilities(try CLI.run(["predict", "--model", model.path, "--json", picture.path, "--precision", "fp32"]))
        let byHand = try probabilities(try CLI.run(["predict", "--model", whole.path, "--json", handCropped.path, "--precision", "fp32"]))
        let uncropped = try probabilities(try CLI.run(["predict", "--model", whole.path, "--json", picture.path, "--precision", "fp32"]))
        XCTAssertEqual(cropped.keys.sorted(), ["A", "B"])
        for c in ["A", "B"] { XCTAssertEqual(cropped[c]!, byHand[c]!, accuracy: 1e-6, c) }
        XCTAssertNotEqual(cropped["A"]!, uncropped["A"]!, "without the crop the model sees another picture")

        // Exports cannot crop: one clear line, exit 1, nothing written.
        for (format, out) in [("onnx", "model.onnx"), ("tfjs", "tfjs"), ("keras", "keras.h5")] {
            let target = work.appendingPathComponent(out)
            let export = try CLI.run(["export", "--model", model.path, "--format", format, "--out", target.path])
            XCTAssertEqual(export.status, 1, format)
            XCTAssertEqual(export.stderr.split(separator: "\n").count, 1, export.stderr)
            XCTAssertTrue(export.stderr.contains("expects each picture cropped to its lungs"), export.stderr)
            XCTAssertFalse(FileManager.default.fileExists(atPath: target.path), format)
        }
        // The uncropped copy still exports.
        let plain = try CLI.run(["export", "--model", whole.path, "--format", "onnx", "--out", work.appendingPathComponent("plain.onnx").path])
        XCTAssertEqual(plain.status, 0, plain.stderr)

        // Shards would see whole pictures: refused before any work.
        let sharded = try CLI.run(["predict", "--model", model.path, "--shards", "2", picture.path])
        XCTAssertNotEqual(sharded.status, 0)
        XCTAssertTrue(sharded.stderr.contains("cropped to their lungs"), sharded.stderr)
        let shardedTrain = try CLI.run(["train", "--method", "head", "--crop", "lungs", "--data", data.path, "--out",
                                        work.appendingPathComponent("runs/sharded").path, "--shards", "2"])
        XCTAssertEqual(shardedTrain.status, 64, shardedTrain.stderr)
        XCTAssertTrue(shardedTrain.stderr.contains("cropped to their lungs"), shardedTrain.stderr)
        // One --locator serves the crop and the audit's --box lungs (the default): with neither, it is refused.
        let locatorForNothing = try CLI.run(["train", "--method", "head", "--locator", "x.safetensors", "--box", "central", "--data", data.path])
        XCTAssertEqual(locatorForNothing.status, 64)
        XCTAssertTrue(locatorForNothing.stderr.contains("--locator finds the lungs for --crop lungs or the audit's --box lungs"),
                      locatorForNothing.stderr)

        // A whole-picture run of the same design beside it: the next lungs-only run sets the two AUCs side by side.
        let wholeRun = try CLI.run(["train", "--method", "head", "--data", data.path, "--out", work.appendingPathComponent("runs/whole").path,
                                    "--epochs", "3", "--folds", "1", "--split", "50/25/25", "--positive", "A"])
        XCTAssertEqual(wholeRun.status, 0, wholeRun.stderr)
        let wholeMetrics = try JSONSerialization.jsonObject(with: Data(contentsOf: work.appendingPathComponent("runs/whole/metrics.json"))) as! [String: Any]
        XCTAssertEqual(wholeMetrics["crop"] as? String, "none")
        let again = work.appendingPathComponent("runs/lungs-2")
        let second = try CLI.run(["train", "--method", "head", "--crop", "lungs", "--data", data.path, "--out", again.path, "--epochs", "3",
                                  "--folds", "1", "--split", "50/25/25", "--positive", "A"])
        XCTAssertEqual(second.status, 0, second.stderr)
        let secondMetrics = try JSONSerialization.jsonObject(with: Data(contentsOf: again.appendingPathComponent("metrics.json"))) as! [String: Any]
        let comparison = try XCTUnwrap(secondMetrics["crop_comparison"] as? [String: Any], "\(secondMetrics.keys.sorted())")
        XCTAssertEqual(comparison["run"] as? String, "whole")
        XCTAssertEqual(comparison["auc"] as? Double, wholeMetrics["auc"] as? Double)
        let secondReport = try String(contentsOf: again.appendingPathComponent("report.html"), encoding: .utf8)
        XCTAssertTrue(secondReport.contains("Trained on whole pictures (run whole)"), "the report says it")
    }
}
