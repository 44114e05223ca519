import Foundation
import LightboxTestSupport
import XCTest
import LightboxData

/// SIGKILL `lightbox train` and `lightbox export` at several moments: the model bundle and the
/// export are either absent or complete (never half-written), and the next run works.
final class KillTests: TemporaryFolderTestCase {
    /// Starts the command and kills it after `delay` seconds (if still running).
    func killed(_ arguments: [String], after delay: Double) throws {
        let p = Process()
        p.executableURL = Bundle.main.bundleURL.appendingPathComponent("lightbox")
        p.arguments = arguments
        p.standardOutput = FileHandle.nullDevice
        p.standardError = FileHandle.nullDevice
        try p.run()
        usleep(useconds_t(delay * 1_000_000))
        if p.isRunning { kill(p.processIdentifier, SIGKILL) }
        p.waitUntilExit()
    }

    /// A bundle is complete when both its files are there and `predict` can use it.
    func assertAbsentOrComplete(_ model: URL, image: String, file: StaticString = #filePath, line: UInt = #line) throws {
        guard FileManager.default.fileExists(atPath: model.path) else { return }
        for name in ["lightbox-model.json", "head.safetensors"] {
            XCTAssertTrue(FileManager.default.fileExists(atPath: model.appendingPathComponent(name).path), "half a bundle", file: file, line: line)
        }
        let r = try CLI.run(["predict", "--model", model.path, image])
        XCTAssertEqual(r.status, 0, r.stderr, file: file, line: line)
    }

    func testKilledTrainingLeavesNoPartialBundle() throws {
        let data = CLI.shared.appendingPathComponent("models/teachable-machine-image/training-images").path
        let image = CLI.shared.appendingPathComponent("models/teachable-machine-image/training-images/Class 1/0.png").path
        let run = work.appendingPathComponent("run")
        for delay in [0.2, 0.6, 1.0, 1.5, 2.5] {
            try killed(["train", "--method", "head", "--data", data, "--out", run.path, "--epochs", "400", "--split", "60/20/20"], after: delay)
            try assertAbsentOrComplete(run.appendingPathComponent("model"), image: image)
        }
        // The next run works, and clears what the killed writers left behind.
        let r = try CLI.run(["train", "--method", "head", "--data", data, "--out", run.path, "--epochs", "3", "--split", "60/20/20"])
        XCTAssertEqual(r.status, 0, r.stderr)
        try assertAbsentOrComplete(run.appendingPathComponent("model"), image: image)
        let leftovers = try FileManager.default.contentsOfDirectory(atPath: run.path).filter { $0.contains(".tmp-") }
        XCTAssertEqual(leftovers, [], "stale temporaries removed")
    }

    func testKilledExportLeavesNoPartialFile() throws {
        let data = CLI.shared.appendingPathComponent("models/teachable-machine-image/training-images").path
        let run = work.appendingPathComponent("run")
        XCTAssertEqual(try CLI.run(["train", "--method", "head", "--data", data, "--out", run.path, "--epochs", "2", "--split", "60/20/20"]).status, 0)
        let onnx = work.appendingPathComponent("m.onnx")
        for delay in [0.1, 0.3, 0.6] {
            try killed(["export", "--model", run.appendingPathComponent("model").path, "--format", "onnx", "--out", onnx.path], after: delay)
            if let data = FileManager.default.contents(atPath: onnx.path) {
                XCTAssertGreaterThan(data.count, 1_000_000, "a complete ONNX file or none")
            }
        }
        XCTAssertEqual(try CLI.run(["export", "--model", run.appendingPathComponent("model").path, "--format", "onnx",
                                    "--out", onnx.path]).status, 0)
        // The Keras export: keras_model.h5 complete (an HDF5 file of the whole model) or absent.
        let h5 = work.appendingPathComponent("keras_model.h5")
        for delay in [0.1, 0.3, 0.6] {
            try killed(["export", "--model", run.appendingPathComponent("model").path, "--format", "keras", "--out", h5.path], after: delay)
            if let data = FileManager.default.contents(atPath: h5.path) {
                XCTAssertGreaterThan(data.count, 1_000_000, "a complete .h5 file or none")
                XCTAssertEqual(Array(data.prefix(4)), [0x89, 0x48, 0x44, 0x46])
            }
        }
        let r = try CLI.run(["export", "--model", run.appendingPathComponent("model").path, "--format", "keras", "--out", h5.path])
        XCTAssertEqual(r.status, 0, r.stderr)
        XCTAssertEqual(try String(contentsOf: work.appendingPathComponent("labels.txt"), encoding: .utf8), "0 Class 1\n1 Class 2\n")
        // A path that cannot be written: one line naming it, exit 1.
        let bad = try CLI.run(["export", "--model", run.appendingPathComponent("model").path, "--format", "keras",
                               "--out", work.appendingPathComponent("labels.txt/x.h5").path])
        XCTAssertEqual(bad.status, 1)
        XCTAssertEqual(bad.stderr.split(separator: "\n").count, 1, bad.stderr)
        XCTAssertTrue(bad.stderr.contains("labels.txt/x.h5") || bad.stderr.contains("labels.txt"), bad.stderr)
    }
}
