import Foundation
import XCTest
import LightboxModels

/// Broken models through every command that reads one (predict, evaluate, export): one line
/// naming the problem, exit code 1, nothing written.
final class BrokenModelTests: XCTestCase {
    func testBrokenBundlesAndExports() throws {
        let work = FileManager.default.temporaryDirectory.appendingPathComponent("lightbox-broken-\(UUID().uuidString)")
        defer { try? FileManager.default.removeItem(at: work) }
        let images = CLI.shared.appendingPathComponent("models/teachable-machine-image/training-images")
        let good = work.appendingPathComponent("run")
        XCTAssertEqual(try CLI.run(["train", "--method", "head", "--data", images.path, "--out", good.path, "--epochs", "2", "--folds", "1", "--split", "60/20/20"]).status, 0)
        let model = good.appendingPathComponent("model")

        func variant(_ name: String, _ damage: (URL) throws -> Void) throws -> URL {
            let copy = work.appendingPathComponent(name)
            try FileManager.default.copyItem(at: model, to: copy)
            try damage(copy)
            return copy
        }
        let head = ModelBundleFiles.head, manifest = ModelBundleFiles.manifest
        let broken: [(String, URL, String)] = [
            ("missing weights", try variant("missing") { try FileManager.default.removeItem(at: $0.appendingPathComponent(head)) }, "missing"),
            ("truncated weights", try variant("truncated") { url in
                let d = try Data(contentsOf: url.appendingPathComponent(head))
                try d.prefix(d.count / 2).write(to: url.appendingPathComponent(head))
            }, "does not fit"),
            ("wrong shapes", try variant("shapes") { url in
                let t = ["dense1.weight": Tensor(shape: [3, 3], values: [Float](repeating: 0, count: 9))]
                try SafeTensors.encode(t).write(to: url.appendingPathComponent(head))
            }, "dense1.weight"),
            ("NaN weights", try variant("nan") { url in
                var d = try SafeTensors.decode(try Data(contentsOf: url.appendingPathComponent(head)), source: "x").tensors
                d["dense1.bias"]!.values[0] = .nan
                try SafeTensors.encode(d).write(to: url.appendingPathComponent(head))
            }, "NaN"),
            ("future version", try variant("version") { url in
                let text = try String(contentsOf: url.appendingPathComponent(manifest), encoding: .utf8)
                try text.replacingOccurrences(of: "\"format_version\" : 1", with: "\"format_version\" : 7")
                    .write(to: url.appendingPathComponent(manifest), atomically: true, encoding: .utf8)
            }, "newer"),
            ("impossible operating point", try variant("point") { url in
                var json = try JSONSerialization.jsonObject(with: Data(contentsOf: url.appendingPathComponent(manifest))) as! [String: Any]
                json["operating_point"] = ["positive_class": "Class 1", "threshold": 2.5, "target_sensitivity": 0.85,
                                           "validation_sensitivity": 1]
                try JSONSerialization.data(withJSONObject: json).write(to: url.appendingPathComponent(manifest))
            }, "operating_point"),
            ("unknown equalisation", try variant("equalize") { url in
                var json = try JSONSerialization.jsonObject(with: Data(contentsOf: url.appendingPathComponent(manifest))) as! [String: Any]
                var preprocessing = json["preprocessing"] as! [String: Any]
                preprocessing["equalize"] = "sharpen<b>"
                json["preprocessing"] = preprocessing
                try JSONSerialization.data(withJSONObject: json).write(to: url.appendingPathComponent(manifest))
            }, "equalize 'sharpen<b>'"),
            ("unknown resize", try variant("resize") { url in
                var json = try JSONSerialization.jsonObject(with: Data(contentsOf: url.appendingPathComponent(manifest))) as! [String: Any]
                var preprocessing = json["preprocessing"] as! [String: Any]
                preprocessing["resize"] = "zoom"
                json["preprocessing"] = preprocessing
                try JSONSerialization.data(withJSONObject: json).write(to: url.appendingPathComponent(manifest))
            }, "resize 'zoom'"),
            ("impossible temperature", try variant("temperature") { url in
                var json = try JSONSerialization.jsonObject(with: Data(contentsOf: url.appendingPathComponent(manifest))) as! [String: Any]
                json["format_version"] = 4
                json["calibration"] = ["method": "temperature", "temperature": 0]
                try JSONSerialization.data(withJSONObject: json).write(to: url.appendingPathComponent(manifest))
            }, "calibration temperature 0.0 is not a finite number from 0.01 to 100.0"),
            ("broken training digests", try variant("digests") { url in
                var json = try JSONSerialization.jsonObject(with: Data(contentsOf: url.appendingPathComponent(manifest))) as! [String: Any]
                json["training_digests"] = "training-digests.txt"
                try JSONSerialization.data(withJSONObject: json).write(to: url.appendingPathComponent(manifest))
                try "not a digest\n".write(to: url.appendingPathComponent("training-digests.txt"), atomically: true, encoding: .utf8)
            }, "training-digests.txt: line 1 is not a SHA-256 digest"),
        ]
        let image = images.appendingPathComponent("Class 1/0.png").path
        for (what, bundle, words) in broken {
            let runs: [[String]] = [
                ["predict", "--model", bundle.path, image],
                ["evaluate", "--model", bundle.path, "--data", images.path, "--out", work.appendingPathComponent("m-\(what).json").path],
                ["export", "--model", bundle.path, "--format", "onnx", "--out", work.appendingPathComponent("\(what).onnx").path],
                ["export", "--model", bundle.path, "--format", "keras", "--out", work.appendingPathComponent("\(what).h5").path],
            ]
            for arguments in runs {
                let r = try CLI.run(arguments)
                XCTAssertEqual(r.status, 1, "\(what): \(arguments[0])")
                XCTAssertEqual(r.stderr.split(separator: "\n").count, 1, "\(what): \(arguments[0]): \(r.stderr)")
                XCTAssertTrue(r.stderr.contains(words), "\(what): \(arguments[0]): \(r.stderr)")
            }
            XCTAssertFalse(FileManager.default.fileExists(atPath: work.appendingPathComponent("\(what).onnx").path))
            XCTAssertFalse(FileManager.default.fileExists(atPath: work.appendingPathComponent("\(what).h5").path))
            XCTAssertFalse(FileManager.default.fileExists(atPath: work.appendingPathComponent("m-\(what).json").path))
        }
    }
}

/// The bundle's file names, as the format defines them.
enum ModelBundleFiles {
    static let head = "head.safetensors"
    static let manifest = "lightbox-model.json"
}
