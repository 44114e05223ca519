import Foundation
import LightboxCore
import XCTest
import ZIPFoundation

/// `lightbox predict --model X.zip` unpacks a Teachable Machine export within limits: a zip
/// bomb (2 GiB of zeros in 2 MB), a zip whose headers understate what it inflates to, and
/// entries that would land outside the unpacking folder are refused with one line naming the
/// zip, and nothing is left in the temporary directory ($TMPDIR, fresh per test).
final class ZipBombTests: XCTestCase {
    var work: URL!
    var tmp: URL!

    override func setUpWithError() throws {
        work = FileManager.default.temporaryDirectory.appendingPathComponent("lightbox-zipbomb-\(UUID().uuidString)")
        tmp = work.appendingPathComponent("tmp")
        try FileManager.default.createDirectory(at: tmp, withIntermediateDirectories: true)
    }

    override func tearDownWithError() throws { try? FileManager.default.removeItem(at: work) }

    /// Runs scripts/fixtures/make_zip_bomb.py with `arguments` after the output path.
    func makeZip(_ name: String, _ arguments: [String]) throws -> URL {
        let script = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
            .deletingLastPathComponent().appendingPathComponent("scripts/fixtures/make_zip_bomb.py")
        let out = work.appendingPathComponent(name)
        let p = Process()
        p.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        p.arguments = ["python3", script.path, out.path] + arguments
        try p.run()
        p.waitUntilExit()
        XCTAssertEqual(p.terminationStatus, 0, "make_zip_bomb.py \(arguments)")
        return out
    }

    func predict(_ zip: URL) throws -> CLI.Outcome {
        let image = CLI.images.appendingPathComponent("289cb15b.jpg").path
        return try CLI.run(["predict", "--model", zip.path, image], environment: ["TMPDIR": tmp.path])
    }

    func assertRefused(_ r: CLI.Outcome, _ zip: URL, saying words: String, file: StaticString = #filePath, line: UInt = #line) throws {
        XCTAssertEqual(r.status, 1, r.stderr, file: file, line: line)
        XCTAssertEqual(r.stderr.split(separator: "\n").count, 1, r.stderr, file: file, line: line)
        XCTAssertTrue(r.stderr.contains(zip.path) && r.stderr.contains(words), r.stderr, file: file, line: line)
        XCTAssertEqual(try FileManager.default.contentsOfDirectory(atPath: tmp.path), [], "left in $TMPDIR", file: file, line: line)
    }

    func testZipBombIsRefusedBeforeUnpacking() throws {
        let bomb = try makeZip("bomb.zip", ["--inflate", "\(2048 << 20)"])
        XCTAssertLessThan(try FileManager.default.attributesOfItem(atPath: bomb.path)[.size] as! Int, 4 << 20)
        try assertRefused(try predict(bomb), bomb, saying: "would unpack to 2147483807 bytes, over the limit of 512 MiB")
    }

    func testUnderstatedSizeStopsAtTheDeclaredBytes() throws {
        let liar = try makeZip("liar.zip", ["--inflate", "\(2048 << 20)", "--declare", "1000000"])
        try assertRefused(try predict(liar), liar, saying: "'weights.bin' inflates past the 1000000 bytes its header declares")
    }

    func testEntriesLeavingTheFolderAreRefused() throws {
        for (name, arguments, words) in [("up.zip", ["--unsafe", "../evil.json"], "unsafe path"),
                                         ("absolute.zip", ["--unsafe", "/tmp/evil.json"], "unsafe path"),
                                         ("link.zip", ["--symlink", "weights.bin=/etc/passwd"], "symbolic link")] {
            let zip = try makeZip(name, arguments)
            try assertRefused(try predict(zip), zip, saying: words)
        }
        XCTAssertFalse(FileManager.default.fileExists(atPath: work.appendingPathComponent("evil.json").path))
    }

    /// A model is a handful of files: a zip of 20,000 entries is refused by its count, before
    /// anything is unpacked (it used to take seconds, growing with the square of the count).
    func testZipsWithManyEntriesAreRefused() throws {
        let many = try makeZip("many.zip", ["--entries", "20000"])
        try assertRefused(try predict(many), many, saying: "holds more than 256 entries")
    }

    /// The folder a killed unpack left behind is removed by the next unpack on this host once
    /// its process is gone; a live process's folder and another host's are left alone.
    func testAKilledUnpacksFolderIsRemovedByTheNextUnpack() throws {
        let exited = Process()
        exited.executableURL = URL(fileURLWithPath: "/bin/true")
        try exited.run()
        exited.waitUntilExit()
        let host = StaleTemporaries.host
        let stale = tmp.appendingPathComponent(".lightbox-unzip.tmp-\(exited.processIdentifier)-1@\(host)")
        let live = tmp.appendingPathComponent(".lightbox-unzip.tmp-\(getpid())-2@\(host)")
        let elsewhere = tmp.appendingPathComponent(".lightbox-unzip.tmp-\(exited.processIdentifier)-3@another-host")
        for folder in [stale, live, elsewhere] {
            try FileManager.default.createDirectory(at: folder.appendingPathComponent("export"), withIntermediateDirectories: true)
            try Data("{}".utf8).write(to: folder.appendingPathComponent("export/model.json"))
        }
        // A real Teachable Machine export, zipped.
        let export = CLI.shared.appendingPathComponent("models/teachable-machine-image")
        let folder = work.appendingPathComponent("export")
        try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
        for name in ["model.json", "weights.bin", "metadata.json"] {
            try FileManager.default.copyItem(at: export.appendingPathComponent(name), to: folder.appendingPathComponent(name))
        }
        let zip = work.appendingPathComponent("tm.zip")
        try FileManager.default.zipItem(at: folder, to: zip, shouldKeepParent: false)
        let r = try predict(zip)
        XCTAssertEqual(r.status, 0, r.stderr)
        XCTAssertEqual(Set(try FileManager.default.contentsOfDirectory(atPath: tmp.path)),
                       [live.lastPathComponent, elsewhere.lastPathComponent], "the exited process's folder is removed, and only it")
    }
}
