import Foundation
import LightboxTestSupport
import XCTest
import LightboxData
import LightboxWorkflows

/// `lightbox train` checks its options with the shared rules (TrainingOptionRules, which the
/// Studio uses too): a bad value is a usage error (exit 64) carrying the library's message,
/// before any data is read; a run over the budget is refused the same way before any image is
/// embedded; `--help` states every option's range.
final class TrainOptionCommandTests: TemporaryFolderTestCase {
    /// 4 + 4 real X-rays in two class folders.
    func makeDataset() throws -> URL {
        let shared = try DatasetLoader.load(CLI.shared.appendingPathComponent("data/covid-chestxray").path, saltFolder: TestSettings.local.home)
        let root = work.appendingPathComponent("data")
        for label in ["COVID-19", "OTHER"] {
            let dir = root.appendingPathComponent(label)
            try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
            for path in shared.images.filter({ $0.label == label }).prefix(4).map(\.path) {
                try FileManager.default.copyItem(atPath: path, toPath: dir.appendingPathComponent((path as NSString).lastPathComponent).path)
            }
        }
        return root
    }

    /// The library's message for `config`'s first problem.
    func libraryMessage(_ change: (inout TrainingConfiguration) throws -> Void) throws -> String {
        var c = try TrainingConfiguration(data: "-", output: "-", settings: TestSettings.local)
        do {
            try change(&c)
            try TrainingOptionRules.validate(c)
        } catch {
            return "\(error)"
        }
        XCTFail("the library accepted it")
        return ""
    }

    func assertUsageError(_ arguments: [String], _ message: String, file: StaticString = #filePath, line: UInt = #line) throws {
        let out = work.appendingPathComponent("run")
        let r = try CLI.run(["train", "--method", "head", "--data", work.appendingPathComponent("data").path, "--out", out.path] + arguments)
        XCTAssertEqual(r.status, 64, r.stderr, file: file, line: line)
        XCTAssertTrue(r.stderr.contains("Error: " + message + "\n"), "expected '\(message)' in: \(r.stderr)", file: file, line: line)
        XCTAssertFalse(r.stderr.contains("embedding"), "refused before any work", file: file, line: line)
        XCTAssertFalse(FileManager.default.fileExists(atPath: out.path), file: file, line: line)
    }

    func testBadValuesAreUsageErrorsWithTheLibrarysMessage() throws {
        _ = try makeDataset()
        try assertUsageError(["--epochs", "0"], try libraryMessage { $0.training.epochs = 0 })
        try assertUsageError(["--split", "90/20/0"], try libraryMessage { $0.split = try TrainingOptionRules.parseSplit("90/20/0") })
        try assertUsageError(["--augment-copies", "30"], try libraryMessage { $0.augmentCopies = 30 })
        try assertUsageError(["--dropout", "1"], try libraryMessage { $0.training.dropout = 1 })
        try assertUsageError(["--balance", "augment-to:0"], try libraryMessage { $0.balance = try TrainingOptionRules.parseBalance("augment-to:0") })
        XCTAssertEqual(try libraryMessage { $0.training.epochs = 0 }, "epochs (--epochs) must be 1-1000 (got 0)")
    }

    func testOverBudgetRunIsRefusedBeforeEmbedding() throws {
        _ = try makeDataset()
        var c = try TrainingConfiguration(data: "-", output: "-", settings: TestSettings.local)
        c.balance = .augmentTo(99_999_999_999)
        var message = ""
        XCTAssertThrowsError(try TrainingOptionRules.checkBudget(
            trainImagesPerClass: TrainingOptionRules.expectedTrainImages(perClass: ["COVID-19": 4, "OTHER": 4], split: c.memberShare),
            config: c)) { message = "\($0)" }
        XCTAssertTrue(message.contains("the limit is \(TrainingOptionRules.maxAugmentedImages) a run"), message)
        try assertUsageError(["--balance", "augment-to:99999999999"], message)
    }

    func testHelpStatesEveryRange() throws {
        let r = try CLI.run(["train", "--help"])
        XCTAssertEqual(r.status, 0)
        // argument-parser wraps lines: compare with whitespace collapsed.
        let help = r.stdout.split(whereSeparator: \.isWhitespace).joined(separator: " ")
        for rule in TrainingOptionRules.rules {
            XCTAssertTrue(help.contains(rule.flag + " "), rule.flag)
            if rule.kind != .flag {
                XCTAssertTrue(help.contains("Allowed: \(rule.range)."), "\(rule.flag): \(rule.range)")
            }
        }
    }
}
