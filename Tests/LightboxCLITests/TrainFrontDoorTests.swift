import Foundation
import LightboxTestSupport
import XCTest

/// What `lightbox train` shows before and while it trains (issue 26, items 12-15): the classes it
/// found with their counts and what looks wrong about them, class names that differ only in
/// letter case refused, an empty class refused by name, a progress counter that never shares a
/// line with the next message, and a help that lists data and training options before clusters.
final class TrainFrontDoorTests: TemporaryFolderTestCase {
    /// Real X-rays, sorted by name, for class folders.
    static let xrays = (try? FileManager.default.contentsOfDirectory(atPath: CLI.images.path).filter { $0.hasSuffix(".jpg") }.sorted()) ?? []

    /// `DIR/<class>/` folders holding `counts[class]` distinct X-rays each.
    func classFolders(_ counts: [(String, Int)]) throws -> String {
        let root = work.appendingPathComponent("data")
        var next = 0
        for (name, count) in counts {
            let folder = root.appendingPathComponent(name)
            try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
            for _ in 0..<count {
                let file = Self.xrays[next]
                next += 1
                try FileManager.default.copyItem(at: CLI.images.appendingPathComponent(file), to: folder.appendingPathComponent(file))
            }
        }
        return root.path
    }

    func train(_ data: String, _ extra: [String] = []) throws -> CLI.Outcome {
        try CLI.run(["train", "--method", "head", "--folds", "2", "--epochs", "1", "--data", data,
                     "--out", work.appendingPathComponent("run").path] + extra)
    }

    func testTheClassesFoundAreListedWithTheirCountsAndDoubtfulOnesWarnedAbout() throws {
        let data = try classFolders([("COVID-19", 12), ("OTHER", 11), ("images", 4)])
        let run = try train(data)
        XCTAssertEqual(run.status, 0, run.stderr)
        XCTAssertTrue(run.stderr.contains("classes: COVID-19 (12 pictures), OTHER (11 pictures), images (4 pictures)"), run.stderr)
        XCTAssertTrue(run.stderr.contains("warning: class 'images' has only 4 pictures"), run.stderr)
        XCTAssertFalse(run.stderr.contains("class 'OTHER' has only"), run.stderr)
        XCTAssertTrue(run.stderr.contains("warning: folder 'images' is taken as a class, but its name looks like part of a data set's layout"), run.stderr)
        // Before any training: the list comes before the first epoch.
        let list = try XCTUnwrap(run.stderr.range(of: "classes: ")), epoch = try XCTUnwrap(run.stderr.range(of: "epoch "))
        XCTAssertLessThan(list.lowerBound, epoch.lowerBound)
    }

    func testClassNamesThatDifferOnlyInCaseAreRefused() throws {
        let data = try classFolders([("Sick", 10), ("sick", 10), ("healthy", 10)])
        let run = try train(data)
        XCTAssertEqual(run.status, 1, run.stderr)
        XCTAssertTrue(run.stderr.contains("classes 'Sick' and 'sick' differ only in letter case"), run.stderr)
        XCTAssertFalse(FileManager.default.fileExists(atPath: work.appendingPathComponent("run/model").path))
        // The same for a CSV list, and for an accent written as one character or two.
        let list = work.appendingPathComponent("list.csv")
        for file in Self.xrays[0..<2] {
            try FileManager.default.copyItem(at: CLI.images.appendingPathComponent(file), to: work.appendingPathComponent(file))
        }
        try "path,label\n\(Self.xrays[0]),Caf\u{E9}\n\(Self.xrays[1]),CAFE\u{301}\n".write(to: list, atomically: true, encoding: .utf8)
        let csv = try CLI.run(["dataset", "inspect", "--data", list.path])
        XCTAssertEqual(csv.status, 1, csv.stdout + csv.stderr)
        XCTAssertTrue(csv.stderr.contains("differ only in letter case or Unicode form"), csv.stderr)
    }

    func testAnEmptyClassIsRefusedByName() throws {
        let data = try classFolders([("COVID-19", 10), ("OTHER", 10)])
        try FileManager.default.createDirectory(atPath: data + "/pneumonia", withIntermediateDirectories: true)
        let run = try train(data)
        XCTAssertEqual(run.status, 1, run.stderr)
        XCTAssertTrue(run.stderr.contains("class 'pneumonia' has no pictures"), run.stderr)
        // A class whose every picture is unreadable is refused by name too, not left out.
        try FileManager.default.removeItem(atPath: data + "/pneumonia")
        try FileManager.default.createDirectory(atPath: data + "/broken", withIntermediateDirectories: true)
        try Data("not a picture".utf8).write(to: URL(fileURLWithPath: data + "/broken/a.png"))
        try Data("nor this".utf8).write(to: URL(fileURLWithPath: data + "/broken/b.jpg"))
        let broken = try train(data, ["--no-cache"])
        XCTAssertEqual(broken.status, 1, broken.stderr)
        XCTAssertTrue(broken.stderr.contains("class 'broken' has no"), broken.stderr)
    }

    /// In a terminal (a pseudo-terminal from util-linux's `script`), the progress counter is redrawn
    /// in place and cleared before the next message; in a pipe there is no control character.
    func testProgressNeverSharesALineAndPipesGetNoControlCharacters() throws {
        let data = try classFolders([("COVID-19", 6), ("OTHER", 6)])
        let lightbox = Bundle.main.bundleURL.appendingPathComponent("lightbox").path
        // Fine-tuning's member counter is on the line when each epoch's line is written.
        let command = [lightbox, "train", "--folds", "2", "--epochs", "1", "--no-cache", "--data", data,
                       "--out", work.appendingPathComponent("tty-run").path].map(shellQuoted).joined(separator: " ")
        let script = Process()
        script.executableURL = URL(fileURLWithPath: "/usr/bin/script")
        script.arguments = ["-qec", command, "/dev/null"]
        let out = Pipe()
        script.standardOutput = out
        script.standardError = out
        try script.run()
        let text = String(decoding: out.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
        script.waitUntilExit()
        XCTAssertEqual(script.terminationStatus, 0, text)
        XCTAssertTrue(text.contains("\r\u{1B}[Kfine-tuning"), "the counter is redrawn in place: \(text.debugDescription)")
        XCTAssertTrue(text.contains("\r\u{1B}[Kepoch"), "the counter is cleared before the epoch's line: \(text.debugDescription)")
        XCTAssertNil(text.range(of: "[0-9]+/[0-9]+[A-Za-z]", options: .regularExpression),
                     "a counter ran into the next line: \(text.debugDescription)")

        let piped = try CLI.run(["train", "--folds", "2", "--epochs", "1", "--data", data, "--out", work.appendingPathComponent("pipe-run").path])
        XCTAssertEqual(piped.status, 0, piped.stderr)
        XCTAssertTrue(piped.stderr.contains("epoch"), piped.stderr)
        XCTAssertFalse(piped.stderr.contains("\r") || piped.stderr.contains("\u{1B}"), piped.stderr.debugDescription)
    }

    func testHelpListsDataAndTrainingBeforeClusterOptions() throws {
        let help = try CLI.run(["train", "--help"])
        XCTAssertEqual(help.status, 0)
        let text = help.stdout
        func position(_ s: String) throws -> String.Index { try XCTUnwrap(text.range(of: s), "\(s) in help").lowerBound }
        XCTAssertLessThan(try position("DATA:"), try position("TRAINING:"))
        XCTAssertLessThan(try position("TRAINING:"), try position("SHARDS AND CLUSTERS:"))
        for option in ["--data", "--epochs", "--folds", "--method", "--rotation", "--dicom-window"] {
            XCTAssertLessThan(try position("  \(option) "), try position("  --partition "), option)
            XCTAssertLessThan(try position("  \(option) "), try position("  --executor "), option)
        }
    }

    private func shellQuoted(_ s: String) -> String { "'" + s.replacingOccurrences(of: "'", with: "'\\''") + "'" }
}
