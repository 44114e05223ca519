import Foundation
import LightboxTestSupport
import XCTest

/// File names with a line break or another control character are refused where they enter
/// (issue 25, item 1): the inputs of embed and predict, a --paths-from list, a data set's
/// pictures, every output path, and with --executor slurm the cache folder every task names.
/// Each refusal is one line naming the file (its control characters escaped), before any work:
/// the runs below have no weights (an empty LIGHTBOX_HOME), so getting as far as loading them
/// would give another message.
final class ControlCharacterNameTests: TemporaryFolderTestCase {
    let xray = CLI.images.appendingPathComponent("000001-2.jpg").path

    func path(_ name: String) -> String { work.appendingPathComponent(name).path }

    /// A copy of a real X-ray at `name` (folders made).
    func picture(_ name: String) throws -> String {
        let target = path(name)
        try FileManager.default.createDirectory(atPath: (target as NSString).deletingLastPathComponent, withIntermediateDirectories: true)
        try FileManager.default.copyItem(atPath: xray, toPath: target)
        return target
    }

    func assertRefused(_ arguments: [String], naming name: String, environment: [String: String] = [:],
                       file: StaticString = #filePath, line: UInt = #line) throws {
        let run = try CLI.run(arguments, environment: ["LIGHTBOX_HOME": path("empty-home")].merging(environment) { $1 })
        XCTAssertEqual(run.status, 1, "\(arguments): \(run.stderr)", file: file, line: line)
        XCTAssertEqual(run.stderr.split(separator: "\n").count, 1, run.stderr, file: file, line: line)
        XCTAssertTrue(run.stderr.contains(name.debugDescription.dropFirst().dropLast()), "\(arguments): \(run.stderr)", file: file, line: line)
        XCTAssertTrue(run.stderr.contains("line break or control character"), "\(arguments): \(run.stderr)", file: file, line: line)
    }

    func testEmbedRefusesAnInputWithALineBreakBeforeAnyWork() throws {
        let good = try picture("in/a.jpg"), bad = try picture("in/b\nrm -rf x.jpg")
        for extra in [[], ["--shards", "2", "--cache-dir", path("cache")]] {
            try assertRefused(["embed", "--out", path("e.npy")] + extra + [path("in")], naming: bad)
            try assertRefused(["embed", "--out", path("e.npy")] + extra + [good, bad], naming: bad)
        }
        let tab = try picture("tab\there.jpg")
        try assertRefused(["embed", "--out", path("e.npy"), tab], naming: tab)
        XCTAssertFalse(FileManager.default.fileExists(atPath: path("e.npy")))
        XCTAssertFalse(FileManager.default.fileExists(atPath: path("e.npy.txt")))
        XCTAssertFalse(FileManager.default.fileExists(atPath: path("e.npy.shards")))
    }

    /// A Slurm task's list is one path a line: a control character that is not a line break
    /// (a carriage return, an escape) is refused there too.
    func testAPathsFromListWithAControlCharacterIsRefused() throws {
        let bad = try picture("esc\u{1b}[31m.jpg")
        try (path("in/a.jpg") + "\n" + bad + "\n").write(toFile: path("list.txt"), atomically: true, encoding: .utf8)
        _ = try picture("in/a.jpg")
        try assertRefused(["embed", "--out", path("e.npy"), "--paths-from", path("list.txt"), "--shard", "0/1",
                           "--cache-dir", path("cache")], naming: bad)
    }

    func testPredictRefusesAPictureWithALineBreak() throws {
        let model = CLI.shared.appendingPathComponent("models/teachable-machine-image").path
        let bad = try picture("x\ny.jpg")
        try assertRefused(["predict", "--model", model, bad], naming: bad)
        try assertRefused(["predict", "--model", model, "--json", path("")], naming: bad)
    }

    /// A data set's pictures go into shard lists and Slurm tasks' lists too: refused as the data
    /// set is read, by every command that reads one.
    func testADataSetWithALineBreakInAFileNameIsRefused() throws {
        _ = try picture("data/Class 1/a.jpg")
        _ = try picture("data/Class 2/b.jpg")
        let bad = try picture("data/Class 2/c\r.jpg")
        try assertRefused(["dataset", "inspect", "--data", path("data")], naming: bad)
        try assertRefused(["train", "--method", "head", "--folds", "1", "--no-cache", "--data", path("data"), "--out", path("run")],
                          naming: bad)
        XCTAssertFalse(FileManager.default.fileExists(atPath: path("run")))
    }

    func testOutputPathsWithALineBreakAreRefused() throws {
        let out = path("e\nrm -rf x.npy")
        try assertRefused(["embed", "--out", out, xray], naming: out)
        let run = path("run\n")
        try assertRefused(["train", "--method", "head", "--folds", "1", "--no-cache", "--out", run, "--data",
                           CLI.shared.appendingPathComponent("models/teachable-machine-image/training-images").path], naming: run)
        XCTAssertFalse(FileManager.default.fileExists(atPath: out))
        XCTAssertFalse(FileManager.default.fileExists(atPath: run))
    }

    /// Every Slurm task names the cache folder (--cache-dir, else LIGHTBOX_HOME's): one with a
    /// line break is refused before anything else is looked at (here: before sbatch is looked for).
    func testASlurmCacheFolderWithALineBreakIsRefusedFirst() throws {
        let cache = path("cache\necho pwned")
        try assertRefused(["embed", "--out", path("e.npy"), "--executor", "slurm", "--cache-dir", cache, xray], naming: cache,
                          environment: ["PATH": path("no-such-dir")])
        let home = path("home\n")
        try assertRefused(["embed", "--out", path("e.npy"), "--executor", "slurm", xray], naming: home,
                          environment: ["PATH": path("no-such-dir"), "LIGHTBOX_HOME": home])
    }
}
