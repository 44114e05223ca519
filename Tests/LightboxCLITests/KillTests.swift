import Foundation
import LightboxTestSupport
import XCTest
import LightboxData

/// SIGKILL `lightbox train` and `lightbox export` while they write their output: the model
/// bundle and the export are either absent or complete (never half-written), and the next run works.
///
/// A kill at a fixed delay would often land before or after the write and leave nothing to check,
/// so each test kills at the moment the write is under way: when the temporary that the atomic
/// write (AtomicFile, AtomicDirectory) makes beside its target appears, `.NAME.tmp-PID-…`, or
/// when the target itself changes (what a write that is not atomic would show), then a few
/// milliseconds later on each new attempt. The temporary still there after the kill says the kill
/// landed mid-write (SIGKILL leaves it; a finished write has renamed it onto the target); each
/// test requires such kills, so it cannot pass without checking one.
final class KillTests: TemporaryFolderTestCase {
    /// What a path is on disk, to see it change: nil when absent.
    struct Seen: Equatable { var inode: UInt64; var size: Int64; var seconds: Int; var nanoseconds: Int }
    static func seen(_ path: String) -> Seen? {
        var s = stat()
        guard lstat(path, &s) == 0 else { return nil }
        return Seen(inode: UInt64(s.st_ino), size: Int64(s.st_size), seconds: Int(s.st_mtim.tv_sec), nanoseconds: Int(s.st_mtim.tv_nsec))
    }

    /// Whether `folder` holds an entry whose name starts with `prefix` (readdir: cheap enough to poll).
    static func hasEntry(_ prefix: String, in folder: String) -> Bool {
        guard let directory = opendir(folder) else { return false }
        defer { closedir(directory) }
        while let entry = readdir(directory) {
            let name = withUnsafeBytes(of: entry.pointee.d_name) { String(decoding: $0.prefix { $0 != 0 }, as: UTF8.self) }
            if name.hasPrefix(prefix) { return true }
        }
        return false
    }

    /// Starts `lightbox ARGUMENTS` and SIGKILLs it `delay` seconds after its write of `target`
    /// begins: after this process's temporary for it appears, or the target changes (polled every
    /// 0.1 ms; at the latest after `timeout` seconds). Returns whether the kill landed mid-write:
    /// the temporary is still there.
    func killedWhileWriting(_ arguments: [String], target: URL, delay: Double, timeout: Double = 120) throws -> Bool {
        let folder = target.deletingLastPathComponent().path
        let before = Self.seen(target.path)
        let p = Process()
        p.executableURL = Bundle.main.bundleURL.appendingPathComponent("lightbox")
        p.arguments = arguments
        p.standardOutput = FileHandle.nullDevice
        p.standardError = FileHandle.nullDevice
        try p.run()
        let temporary = ".\(target.lastPathComponent).tmp-\(p.processIdentifier)-"
        let deadline = Date().addingTimeInterval(timeout)
        while p.isRunning && Date() < deadline {
            if Self.hasEntry(temporary, in: folder) || Self.seen(target.path) != before {
                if delay > 0 { usleep(useconds_t(delay * 1_000_000)) }
                break
            }
            usleep(100)
        }
        if p.isRunning { kill(p.processIdentifier, SIGKILL) }
        p.waitUntilExit()
        return Self.hasEntry(temporary, in: folder)
    }

    /// Kills after the write begins, waiting 0, 10, 3, 20, 6, 40 ms (then again from 0) until
    /// `wanted` kills landed mid-write or `attempts` were made; `check` runs after every kill, with
    /// whether it landed mid-write and what the target was before. Fails unless `wanted` landed.
    /// (Here the writes take some 20 to 30 ms: the first two kills land, at the write's start and
    /// in its middle.)
    func killWhileWriting(_ arguments: [String], target: URL, wanted: Int = 2, attempts: Int = 12,
                          file: StaticString = #filePath, line: UInt = #line,
                          check: (_ midWrite: Bool, _ before: Data?) throws -> Void) throws {
        let delays = [0, 0.010, 0.003, 0.020, 0.006, 0.040]
        var landed: [Double] = [], missed: [Double] = []
        for attempt in 0..<attempts where landed.count < wanted {
            let delay = delays[attempt % delays.count]
            let before = Self.contents(target)
            let midWrite = try killedWhileWriting(arguments, target: target, delay: delay)
            if midWrite { landed.append(delay) } else { missed.append(delay) }
            try check(midWrite, before)
        }
        print("\(target.lastPathComponent): \(landed.count) kill(s) mid-write, after delays (s) \(landed); \(missed.count) missed, after \(missed)")
        XCTAssertGreaterThanOrEqual(landed.count, wanted, "kills that landed while \(target.lastPathComponent) was being written, "
                                    + "after delays (s) \(landed); missed after \(missed)", file: file, line: line)
    }

    /// A file's bytes, or a folder's manifest (what tells two bundles apart): nil when absent.
    static func contents(_ url: URL) -> Data? {
        FileManager.default.contents(atPath: url.path) ?? FileManager.default.contents(atPath: url.appendingPathComponent("lightbox-model.json").path)
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
        let model = run.appendingPathComponent("model")
        let train = ["train", "--method", "head", "--data", data, "--out", run.path, "--epochs", "20", "--folds", "1", "--split", "60/20/20"]
        // Killed while writing the first bundle: none there (unless an earlier attempt's kill came
        // after its write). Then while replacing it: the old one there, or the new one complete.
        try killWhileWriting(train, target: model) { midWrite, before in
            try assertAbsentOrComplete(model, image: image)
            if midWrite { XCTAssertEqual(FileManager.default.fileExists(atPath: model.path), before != nil, "killed mid-write") }
        }
        XCTAssertEqual(try CLI.run(train).status, 0)
        try killWhileWriting(train, target: model) { midWrite, _ in
            XCTAssertTrue(FileManager.default.fileExists(atPath: model.path), "the bundle being replaced")
            try assertAbsentOrComplete(model, image: image)
        }
        // The next run works, and clears what the killed writers left behind.
        let r = try CLI.run(["train", "--method", "head", "--data", data, "--out", run.path, "--epochs", "3", "--folds", "1", "--split", "60/20/20"])
        XCTAssertEqual(r.status, 0, r.stderr)
        try assertAbsentOrComplete(model, image: image)
        let leftovers = try FileManager.default.contentsOfDirectory(atPath: run.path).filter { $0.contains(".tmp-") }
        XCTAssertEqual(leftovers, [], "stale temporaries removed")
    }

    func testKilledExportLeavesNoPartialFile() throws {
        let data = CLI.shared.appendingPathComponent("models/teachable-machine-image/training-images").path
        let run = work.appendingPathComponent("run")
        XCTAssertEqual(try CLI.run(["train", "--method", "head", "--data", data, "--out", run.path, "--epochs", "2", "--folds", "1", "--split", "60/20/20"]).status, 0)
        let model = run.appendingPathComponent("model").path
        // Killed mid-write, the file is as it was: absent, then (after an export that finished)
        // the whole previous export.
        let onnx = work.appendingPathComponent("m.onnx")
        let onnxExport = ["export", "--model", model, "--format", "onnx", "--out", onnx.path]
        for _ in 0..<2 {
            try killWhileWriting(onnxExport, target: onnx) { midWrite, before in
                let data = FileManager.default.contents(atPath: onnx.path)
                if let data { XCTAssertGreaterThan(data.count, 1_000_000, "a complete ONNX file or none") }
                if midWrite { XCTAssertEqual(data, before, "killed mid-write") }
            }
            XCTAssertEqual(try CLI.run(onnxExport).status, 0)
        }
        // The Keras export: keras_model.h5 complete (an HDF5 file of the whole model) or absent.
        let h5 = work.appendingPathComponent("keras_model.h5")
        let kerasExport = ["export", "--model", model, "--format", "keras", "--out", h5.path]
        for _ in 0..<2 {
            try killWhileWriting(kerasExport, target: h5) { midWrite, before in
                let data = FileManager.default.contents(atPath: h5.path)
                if let data {
                    XCTAssertGreaterThan(data.count, 1_000_000, "a complete .h5 file or none")
                    XCTAssertEqual(Array(data.prefix(4)), [0x89, 0x48, 0x44, 0x46])
                }
                if midWrite { XCTAssertEqual(data, before, "killed mid-write") }
            }
            let r = try CLI.run(kerasExport)
            XCTAssertEqual(r.status, 0, r.stderr)
        }
        XCTAssertEqual(try String(contentsOf: work.appendingPathComponent("labels.txt"), encoding: .utf8), "0 Class 1\n1 Class 2\n")
        // A path that cannot be written: one line naming it, exit 1.
        let bad = try CLI.run(["export", "--model", model, "--format", "keras",
                               "--out", work.appendingPathComponent("labels.txt/x.h5").path])
        XCTAssertEqual(bad.status, 1)
        XCTAssertEqual(bad.stderr.split(separator: "\n").count, 1, bad.stderr)
        XCTAssertTrue(bad.stderr.contains("labels.txt/x.h5") || bad.stderr.contains("labels.txt"), bad.stderr)
    }
}
