import Foundation
import XCTest
import LightboxModels

/// `lightbox embed` end to end: the real executable, real X-rays, real weights.
final class EmbedCommandTests: XCTestCase {
    var work: URL!

    override func setUpWithError() throws {
        work = FileManager.default.temporaryDirectory.appendingPathComponent("lightbox-cli-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: work, withIntermediateDirectories: true)
    }

    override func tearDownWithError() throws {
        try? FileManager.default.removeItem(at: work)
    }

    func lightbox(_ arguments: [String], environment: [String: String] = [:]) throws -> CLI.Outcome {
        try CLI.run(arguments, environment: environment)
    }

    func xray(_ name: String) -> String { CLI.images.appendingPathComponent(name).path }

    func testEmbedWritesArrayAndPathListInInputOrder() throws {
        // A directory (expanded sorted) between two files; a non-image file in the directory is ignored.
        let folder = work.appendingPathComponent("folder")
        try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
        for name in ["b.png", "a.jpg"] {
            try FileManager.default.copyItem(atPath: xray(name == "b.png" ? "tpmd200203f2-a.png" : "00870a9c.jpg"),
                                             toPath: folder.appendingPathComponent(name).path)
        }
        try Data("x".utf8).write(to: folder.appendingPathComponent(".DS_Store"))
        let out = work.appendingPathComponent("e.npy").path
        let inputs = [xray("000001-2.jpg"), folder.path, xray("00870a9c.jpg")]
        let run = try lightbox(["embed", "--out", out, "--batch", "2"] + inputs)
        XCTAssertEqual(run.status, 0, run.stderr)

        let (values, shape) = try NPYFile.decode(try Data(contentsOf: URL(fileURLWithPath: out)), source: out)
        XCTAssertEqual(shape, [4, 1280])
        let listed = try String(contentsOfFile: out + ".txt", encoding: .utf8).split(separator: "\n").map(String.init)
        XCTAssertEqual(listed, [xray("000001-2.jpg"), folder.appendingPathComponent("a.jpg").path,
                                folder.appendingPathComponent("b.png").path, xray("00870a9c.jpg")])
        // The same image twice (a.jpg is a copy of 00870a9c.jpg) gives the same row.
        XCTAssertEqual(Array(values[1280..<2560]), Array(values[3840..<5120]))
        XCTAssertTrue(values.allSatisfy { $0.isFinite && $0 >= 0 }, "embeddings are pooled ReLU6 outputs")
    }

    func testBadFilesAreSkippedAndNamed() throws {
        let bad = work.appendingPathComponent("broken.png").path
        try Data("not an image".utf8).write(to: URL(fileURLWithPath: bad))
        let out = work.appendingPathComponent("e.npy").path
        let run = try lightbox(["embed", "--out", out, xray("000001-2.jpg"), bad])
        XCTAssertEqual(run.status, 0, run.stderr)
        XCTAssertTrue(run.stderr.contains("skipped \(bad): not a PNG or JPEG"), run.stderr)
        let listed = try String(contentsOfFile: out + ".txt", encoding: .utf8)
        XCTAssertEqual(listed, xray("000001-2.jpg") + "\n")

        // --strict: any bad file fails the command and nothing is written.
        let strictOut = work.appendingPathComponent("strict.npy").path
        let strict = try lightbox(["embed", "--strict", "--out", strictOut, xray("000001-2.jpg"), bad])
        XCTAssertNotEqual(strict.status, 0)
        XCTAssertFalse(FileManager.default.fileExists(atPath: strictOut))
    }

    func testOnlyBadInputFailsWithOneLine() throws {
        let out = work.appendingPathComponent("e.npy").path
        let missing = work.appendingPathComponent("nope.jpg").path
        let run = try lightbox(["embed", "--out", out, missing])
        XCTAssertNotEqual(run.status, 0)
        XCTAssertTrue(run.stderr.contains(missing), run.stderr)
        XCTAssertFalse(FileManager.default.fileExists(atPath: out))
    }

    func testMissingWeightsGiveTheFix() throws {
        let run = try lightbox(["embed", "--out", work.appendingPathComponent("e.npy").path, xray("000001-2.jpg")],
                               environment: ["LIGHTBOX_HOME": work.appendingPathComponent("empty-home").path])
        XCTAssertNotEqual(run.status, 0)
        let lines = run.stderr.split(separator: "\n")
        XCTAssertEqual(lines.count, 1, run.stderr)
        XCTAssertTrue(run.stderr.contains("lightbox setup"), run.stderr)
    }

    func testEveryCommandHasHelp() throws {
        for command in [[], ["embed"], ["setup"], ["imagenet"]] {
            let run = try lightbox(command + ["--help"])
            XCTAssertEqual(run.status, 0, "\(command)")
            XCTAssertTrue(run.stdout.contains("USAGE"), "\(command): \(run.stdout)")
        }
    }
}
