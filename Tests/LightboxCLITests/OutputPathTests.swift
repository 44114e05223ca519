import Foundation
import LightboxTestSupport
import XCTest

/// Every command that writes refuses, before any work, an output path that exists and is not
/// what it writes (a FIFO, a character device or a socket, or a file where a folder is meant),
/// and one it cannot write (its folder is a file, or cannot be written to): one line naming the
/// path and the problem, and the node left as it was (issue 25, item 3). The devices are made
/// with mknod in the test's folder (c 1 3, /dev/null's numbers), never /dev/null itself.
final class OutputPathTests: TemporaryFolderTestCase {
    let xray = CLI.images.appendingPathComponent("000001-2.jpg").path
    let tmImages = CLI.shared.appendingPathComponent("models/teachable-machine-image/training-images").path

    func path(_ name: String) -> String { work.appendingPathComponent(name).path }

    /// One small head model for the commands that read one, trained once for the whole class.
    nonisolated(unsafe) static var trained: (model: String, data: String)?
    static let modelFolder = FileManager.default.temporaryDirectory.appendingPathComponent("lightbox-OutputPathTests-model-\(getpid())")

    func model() throws -> (model: String, data: String) {
        if let trained = Self.trained { return trained }
        try FileManager.default.createDirectory(at: Self.modelFolder, withIntermediateDirectories: true)
        let made = try ShardedEmbedCommandTests.headModelAndData(in: Self.modelFolder, images: 2)
        Self.trained = made
        return made
    }

    override class func tearDown() {
        try? FileManager.default.removeItem(at: modelFolder)
        super.tearDown()
    }

    /// The kind of node at `path` (not following a link), as stat's S_IFMT bits.
    func kind(_ path: String) -> mode_t? {
        var info = stat()
        return lstat(path, &info) == 0 ? info.st_mode & S_IFMT : nil
    }

    /// A FIFO, a character device and a unix socket in the test's folder.
    func specialNodes() throws -> [(path: String, kind: mode_t, name: String)] {
        let fifo = path("fifo")
        XCTAssertEqual(mkfifo(fifo, 0o644), 0)
        let device = path("null-device")
        let mknod = Process()
        mknod.executableURL = URL(fileURLWithPath: "/usr/bin/mknod")
        mknod.arguments = [device, "c", "1", "3"]
        try mknod.run()
        mknod.waitUntilExit()
        guard mknod.terminationStatus == 0 else { throw XCTSkip("mknod needs CAP_MKNOD") }
        let socketPath = path("socket")
        let fd = socket(AF_UNIX, Int32(SOCK_STREAM.rawValue), 0)
        var address = sockaddr_un()
        address.sun_family = sa_family_t(AF_UNIX)
        withUnsafeMutableBytes(of: &address.sun_path) { raw in
            socketPath.utf8CString.withUnsafeBytes { raw.copyMemory(from: UnsafeRawBufferPointer(rebasing: $0.prefix(raw.count - 1))) }
        }
        let bound = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, socklen_t(MemoryLayout<sockaddr_un>.size)) }
        }
        close(fd)
        XCTAssertEqual(bound, 0)
        return [(fifo, S_IFIFO, "FIFO"), (device, S_IFCHR, "character device"), (socketPath, S_IFSOCK, "socket")]
    }

    func assertRefused(_ arguments: [String], naming target: String, because reason: String,
                       file: StaticString = #filePath, line: UInt = #line) throws {
        let before = kind(target)
        let run = try CLI.run(arguments)
        XCTAssertEqual(run.status, 1, "\(arguments): \(run.stderr)", file: file, line: line)
        XCTAssertEqual(run.stderr.split(separator: "\n").count, 1, "\(arguments): \(run.stderr)", file: file, line: line)
        XCTAssertTrue(run.stderr.hasPrefix("error: \(target)"), "\(arguments): \(run.stderr)", file: file, line: line)
        XCTAssertTrue(run.stderr.contains(reason), "\(arguments): \(run.stderr)", file: file, line: line)
        XCTAssertEqual(kind(target), before, "\(target) was replaced", file: file, line: line)
    }

    func testFileOutputsRefuseFIFOsDevicesAndSockets() throws {
        let (model, data) = try model()
        for node in try specialNodes() {
            let reason = "is a \(node.name), not a regular file"
            try assertRefused(["embed", "--out", node.path, xray], naming: node.path, because: reason)
            try assertRefused(["evaluate", "--model", model, "--data", data, "--out", node.path], naming: node.path, because: reason)
            try assertRefused(["audit", "--model", model, "--data", data, "--out", node.path], naming: node.path, because: reason)
            try assertRefused(["export", "--model", model, "--format", "onnx", "--out", node.path], naming: node.path, because: reason)
        }
        // What goes beside the named file is checked as well: embed's list, evaluate's predictions.
        XCTAssertEqual(mkfifo(path("e.npy.txt"), 0o644), 0)
        try assertRefused(["embed", "--out", path("e.npy"), xray], naming: path("e.npy.txt"), because: "is a FIFO, not a regular file")
        XCTAssertFalse(FileManager.default.fileExists(atPath: path("e.npy")))
        XCTAssertEqual(mkfifo(path("m-predictions.csv"), 0o644), 0)
        try assertRefused(["evaluate", "--model", model, "--data", data, "--out", path("m.json")], naming: path("m-predictions.csv"),
                          because: "is a FIFO, not a regular file")
        XCTAssertFalse(FileManager.default.fileExists(atPath: path("m.json")))
        // A folder where a file is meant.
        try FileManager.default.createDirectory(atPath: path("folder.npy"), withIntermediateDirectories: true)
        try assertRefused(["embed", "--out", path("folder.npy"), xray], naming: path("folder.npy"), because: "is a folder, not a regular file")
    }

    func testFolderOutputsRefuseSpecialNodesAndFiles() throws {
        let (model, _) = try model()
        let fifo = try specialNodes()[0].path
        let file = path("a-file")
        try Data("x".utf8).write(to: URL(fileURLWithPath: file))
        for (target, reason) in [(fifo, "is a FIFO, not a folder"), (file, "is a regular file, not a folder")] {
            try assertRefused(["train", "--method", "head", "--folds", "1", "--epochs", "1", "--no-cache", "--data", tmImages, "--out", target],
                              naming: target, because: reason)
            try assertRefused(["predict", "--model", model, "--heatmap", target, xray], naming: target, because: reason)
            try assertRefused(["export", "--model", model, "--format", "tfjs", "--out", target], naming: target, because: reason)
        }
        XCTAssertEqual(try String(contentsOfFile: file, encoding: .utf8), "x")
    }

    /// The Studio's data folder is where everything it keeps is written: a FIFO there is refused
    /// before the server starts (the run is stopped after a minute if it does start).
    func testServeRefusesADataFolderThatIsNotOne() throws {
        let fifo = try specialNodes()[0].path
        let running = try CLI.launch(Bundle.main.bundleURL.appendingPathComponent("lightbox"),
                                     ["serve", "--data-dir", fifo, "--port", "0", "--no-token"], environment: [:])
        let stop = DispatchWorkItem { running.process.terminate() }
        DispatchQueue.global().asyncAfter(deadline: .now() + 60, execute: stop)
        let outcome = running.wait()
        stop.cancel()
        XCTAssertEqual(outcome.status, 1, outcome.stderr)
        XCTAssertTrue(outcome.stderr.hasPrefix("error: \(fifo) is a FIFO, not a folder"), outcome.stderr)
        XCTAssertEqual(kind(fifo), S_IFIFO)
    }

    /// An output that cannot be written is refused before the work, not after it (training
    /// used to end with a raw Foundation error). Root writes anywhere, so the unwritable places
    /// are a path under a regular file and, where chattr works, an immutable folder.
    func testUnwritableOutputsAreRefusedBeforeAnyWork() throws {
        let file = path("a-file")
        try Data("x".utf8).write(to: URL(fileURLWithPath: file))
        let underFile = file + "/run"
        try assertRefused(["train", "--method", "head", "--folds", "1", "--epochs", "1", "--no-cache", "--data", tmImages, "--out", underFile],
                          naming: underFile, because: "cannot be written: \(file) is not a folder")
        try assertRefused(["embed", "--out", file + "/deeper/e.npy", xray], naming: file + "/deeper/e.npy",
                          because: "cannot be written: \(file) is not a folder")

        let locked = path("locked")
        try FileManager.default.createDirectory(atPath: locked, withIntermediateDirectories: true)
        guard chattr("+i", locked) else { throw XCTSkip("chattr +i needs CAP_LINUX_IMMUTABLE and a file system that has it") }
        defer { _ = chattr("-i", locked) }
        for target in [locked + "/run", locked + "/new/run"] {
            try assertRefused(["train", "--method", "head", "--folds", "1", "--epochs", "1", "--no-cache", "--data", tmImages, "--out", target],
                              naming: target, because: "cannot be written: \(locked):")
        }
        try assertRefused(["embed", "--out", locked + "/e.npy", xray], naming: locked + "/e.npy", because: "cannot be written: \(locked):")
        XCTAssertEqual(try FileManager.default.contentsOfDirectory(atPath: locked), [])
    }

    func chattr(_ flag: String, _ target: String) -> Bool {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/usr/bin/chattr")
        process.arguments = [flag, target]
        process.standardError = FileHandle.nullDevice
        guard (try? process.run()) != nil else { return false }
        process.waitUntilExit()
        return process.terminationStatus == 0
    }
}
