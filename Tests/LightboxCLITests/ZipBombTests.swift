import Foundation
import XCTest

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
}
