import Foundation
import LightboxCore
import LightboxHead
import LightboxTestSupport
import XCTest
import ZIPFoundation
@testable import LightboxInterop
@testable import LightboxWorkflows

/// A bundle's temperature calibration and training digests: stored in the manifest (and
/// `training-digests.txt`), read back from a folder and a zip, refused when wrong with the file
/// named; and the calibration applied by every way a model's probabilities come out (predict,
/// heatmaps, the cached pass of a head model and of a fine-tuned ensemble), while what the cache
/// holds, and its key, stay the uncalibrated ensemble's.
final class CalibrationBundleTests: TemporaryFolderTestCase {
    static let digests = (0..<5).map { SHA256.hex(Data("picture \($0)".utf8)) }

    func manifest(_ folder: URL) throws -> [String: Any] {
        try JSONSerialization.jsonObject(with: Data(contentsOf: folder.appendingPathComponent(ModelBundle.manifestName))) as! [String: Any]
    }

    func testCalibrationAndDigestsRoundTripThroughFolderAndZip() throws {
        var bundle = try InteropFixtures.bundle()
        bundle.calibration = TemperatureScaling(temperature: 1.75)
        bundle.trainingDigests = Self.digests.reversed() + [Self.digests[0]]  // unsorted, one repeated
        let folder = work.appendingPathComponent("model")
        try bundle.write(to: folder.path)
        let json = try manifest(folder)
        XCTAssertEqual(json["format_version"] as? Int, 4, "a calibrated bundle is written with format version 4")
        let stored = try XCTUnwrap(json["calibration"] as? [String: Any])
        XCTAssertEqual(stored.keys.sorted(), ["method", "temperature"])
        XCTAssertEqual(stored["method"] as? String, "temperature")
        XCTAssertEqual(stored["temperature"] as? Double, 1.75)
        XCTAssertEqual(json["training_digests"] as? String, "training-digests.txt")
        XCTAssertEqual(try String(contentsOf: folder.appendingPathComponent("training-digests.txt"), encoding: .utf8),
                       Self.digests.sorted().map { $0 + "\n" }.joined(), "sorted, one a line, each once")

        let zip = work.appendingPathComponent("model.zip")
        try FileManager.default.zipItem(at: folder, to: zip, shouldKeepParent: true)
        for path in [folder.path, zip.path] {
            let read = try ModelBundle.read(from: path)
            XCTAssertEqual(read.calibration, TemperatureScaling(temperature: 1.75), path)
            XCTAssertEqual(read.trainingDigests, Self.digests.sorted(), path)
        }

        // Without either: no key, no file, the version a single head always had.
        let plain = work.appendingPathComponent("plain")
        try InteropFixtures.bundle().write(to: plain.path)
        let plainJSON = try manifest(plain)
        XCTAssertNil(plainJSON["calibration"])
        XCTAssertNil(plainJSON["training_digests"])
        XCTAssertEqual(plainJSON["format_version"] as? Int, 1)
        XCTAssertEqual(try FileManager.default.contentsOfDirectory(atPath: plain.path).sorted(), ["head.safetensors", "lightbox-model.json"])
        let read = try ModelBundle.read(from: plain.path)
        XCTAssertNil(read.calibration)
        XCTAssertNil(read.trainingDigests)
    }

    /// Each broken calibration or digest list is refused on read, naming the file and the problem.
    func testBrokenCalibrationAndDigestsAreRefusedNamingTheFile() throws {
        var bundle = try InteropFixtures.bundle()
        bundle.calibration = TemperatureScaling(temperature: 2)
        bundle.trainingDigests = Self.digests
        let folder = work.appendingPathComponent("model")
        try bundle.write(to: folder.path)
        let manifestURL = folder.appendingPathComponent(ModelBundle.manifestName)
        let good = try Data(contentsOf: manifestURL)
        func refused(_ edit: (inout [String: Any]) -> Void, _ words: String, line: UInt = #line) throws {
            var json = try JSONSerialization.jsonObject(with: good) as! [String: Any]
            edit(&json)
            try JSONSerialization.data(withJSONObject: json).write(to: manifestURL)
            XCTAssertThrowsError(try ModelBundle.read(from: folder.path), line: line) {
                XCTAssertEqual("\($0)", "\(manifestURL.path): \(words)", line: line)
            }
        }
        try refused({ $0["calibration"] = ["method": "temperature", "temperature": 0] },
                    "calibration temperature 0.0 is not a finite number from 0.01 to 100.0")
        try refused({ $0["calibration"] = ["method": "temperature", "temperature": 1e5] },
                    "calibration temperature 100000.0 is not a finite number from 0.01 to 100.0")
        try refused({ $0["calibration"] = ["method": "platt", "temperature": 2] },
                    "calibration method 'platt' is not one this Lightbox reads (temperature)")
        try refused({ $0["format_version"] = 3 }, "calibration needs format version 4 or later (the manifest says 3)")
        try refused({ $0["format_version"] = 6 }, "format version 6 is newer than this Lightbox reads (5); upgrade Lightbox")
        XCTAssertThrowsError(try { () throws -> Void in
            var json = try JSONSerialization.jsonObject(with: good) as! [String: Any]
            json["calibration"] = ["temperature": 2]
            try JSONSerialization.data(withJSONObject: json).write(to: manifestURL)
            _ = try ModelBundle.read(from: folder.path)
        }()) { XCTAssertTrue("\($0)".hasPrefix("\(manifestURL.path): unreadable model manifest"), "\($0)") }
        var outside = try JSONSerialization.jsonObject(with: good) as! [String: Any]
        outside["training_digests"] = "../elsewhere.txt"
        try JSONSerialization.data(withJSONObject: outside).write(to: manifestURL)
        XCTAssertThrowsError(try ModelBundle.read(from: folder.path)) {
            XCTAssertEqual("\($0)", "\(folder.path): training digests file '../elsewhere.txt' is not in the model folder")
        }
        try good.write(to: manifestURL)
        XCTAssertNoThrow(try ModelBundle.read(from: folder.path))

        let digestsURL = folder.appendingPathComponent("training-digests.txt")
        try (Self.digests[0] + "\n" + Self.digests[1].uppercased() + "\n").write(to: digestsURL, atomically: true, encoding: .utf8)
        XCTAssertThrowsError(try ModelBundle.read(from: folder.path)) {
            XCTAssertEqual("\($0)", "\(digestsURL.path): line 2 is not a SHA-256 digest (64 lowercase hex characters)")
        }
        try (Self.digests[0] + "\nabc\n").write(to: digestsURL, atomically: true, encoding: .utf8)
        XCTAssertThrowsError(try ModelBundle.read(from: folder.path)) {
            XCTAssertEqual("\($0)", "\(digestsURL.path): line 2 is not a SHA-256 digest (64 lowercase hex characters)")
        }
        try FileManager.default.removeItem(at: digestsURL)
        XCTAssertThrowsError(try ModelBundle.read(from: folder.path)) { XCTAssertEqual("\($0)", "\(digestsURL.path): training digests missing") }

        // Writing refuses what reading would.
        var bad = try InteropFixtures.bundle()
        bad.trainingDigests = ["not a digest"]
        XCTAssertThrowsError(try bad.write(to: work.appendingPathComponent("bad").path)) {
            XCTAssertEqual("\($0)", "the model's training digests: entry 1 ('not a digest') is not a SHA-256 digest (64 lowercase hex characters)")
        }
        bad.trainingDigests = nil
        bad.calibration = TemperatureScaling(temperature: .infinity)
        XCTAssertThrowsError(try bad.write(to: work.appendingPathComponent("bad").path))
        XCTAssertFalse(FileManager.default.fileExists(atPath: work.appendingPathComponent("bad").path), "nothing written")
    }

    /// A head model and a fine-tuned ensemble, calibrated: `predict`, the heatmap's prediction and
    /// the cached pass all give `softmax(log(p) / T)` of the uncalibrated model's `p`, and the
    /// predicted class is the decision on those; the cached pass stores, under the same key, the
    /// uncalibrated values.
    func testEveryOutputIsCalibrated() throws {
        let images = InteropFixtures.images()
        for (name, fixture) in [("head", try InteropFixtures.bundle()), ("finetuned", try InteropFixtures.fineTunedBundle())] {
            let scaling = TemperatureScaling(temperature: 2.5)
            var calibrated = fixture
            calibrated.calibration = scaling
            let plainPath = work.appendingPathComponent("\(name)-plain").path, calibratedPath = work.appendingPathComponent("\(name)-calibrated").path
            try fixture.write(to: plainPath)
            try calibrated.write(to: calibratedPath)
            let plain = try Predictor(model: plainPath, settings: TestSettings.local)
            let predictor = try Predictor(model: calibratedPath, settings: TestSettings.local)
            XCTAssertEqual(predictor.model.calibration, scaling)
            XCTAssertNil(plain.model.calibration)

            let raw = try plain.predict(images).map { try $0.get().probabilities }
            let expected = raw.map { scaling.apply($0, classes: 3) }
            let predicted = try predictor.predict(images).map { try $0.get() }
            XCTAssertEqual(predicted.map(\.probabilities), expected, "\(name): predict")
            XCTAssertNotEqual(expected, raw, "\(name): the calibration changes the probabilities")
            let (heatmapPrediction, png) = try predictor.predictWithHeatmap(images[1])
            XCTAssertEqual(heatmapPrediction.probabilities, expected[1], "\(name): explain")
            XCTAssertFalse(png.isEmpty)

            // The cached pass: what is stored (its rows) is the uncalibrated model's work, under the same key.
            let pass = predictor.model.cachedPass(baseWeightsSHA256: fixture.backbone.weightsSHA256)
            let plainPass = plain.model.cachedPass(baseWeightsSHA256: fixture.backbone.weightsSHA256)
            XCTAssertEqual(pass.cacheKey, plainPass.cacheKey, "\(name): the cache key names the members, not the calibration")
            XCTAssertEqual(pass.output, name == "head" ? .backboneEmbedding : .probabilities)
            let rows = try XCTUnwrap(try pass.embedder.forward(images).output).embeddings
            if pass.output == .probabilities {
                for (i, row) in raw.enumerated() {
                    for c in 0..<3 { XCTAssertEqual(rows[i * 3 + c], row[c], accuracy: 1e-6, "\(name): the cache holds uncalibrated probabilities") }
                }
            }
            let fromCache = try pass.probabilities(rows, count: images.count)
            for (i, row) in expected.enumerated() {
                for c in 0..<3 { XCTAssertEqual(fromCache[i * 3 + c], row[c], accuracy: 1e-6, "\(name): the cached pass calibrates") }
            }
        }
    }
}
