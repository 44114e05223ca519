import Foundation
import LightboxTestSupport
import XCTest
import LightboxData
@testable import LightboxWorkflows
@testable import LightboxHead

/// TrainingRun checks its options first and its size before drawing augmented copies, and a
/// reporter can cancel it: it stops with TrainingCancelled and writes no run directory.
final class TrainingRunControlTests: TemporaryFolderTestCase {
    /// 6 + 6 real X-rays from ../shared in two class folders.
    func makeDataset() throws -> URL {
        let shared = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
            .deletingLastPathComponent().deletingLastPathComponent().appendingPathComponent("shared/data/covid-chestxray")
        guard FileManager.default.fileExists(atPath: shared.path) else { throw XCTSkip("no developer data at \(shared.path)") }
        let all = try DatasetLoader.load(shared.path, saltFolder: TestSettings.local.home)
        let root = work.appendingPathComponent("data")
        for label in ["COVID-19", "OTHER"] {
            let dir = root.appendingPathComponent(label)
            try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
            for path in all.images.filter({ $0.label == label }).prefix(6).map(\.path) {
                try FileManager.default.copyItem(atPath: path, toPath: dir.appendingPathComponent((path as NSString).lastPathComponent).path)
            }
        }
        return root
    }

    /// Records what the run reported; says it is cancelled once `cancelWhen` saw what it waits for.
    final class Recorder: Reporter, @unchecked Sendable {
        private let lock = NSLock()
        private(set) var progressCalls: [(String, Int, Int)] = []
        private(set) var epochs = 0
        private var cancelled = false
        let cancelAfterFirstProgress: Bool, cancelAfterFirstEpoch: Bool

        init(cancelAfterFirstProgress: Bool = false, cancelAfterFirstEpoch: Bool = false) {
            self.cancelAfterFirstProgress = cancelAfterFirstProgress
            self.cancelAfterFirstEpoch = cancelAfterFirstEpoch
        }

        var isCancelled: Bool { lock.withLock { cancelled } }
        func note(_ line: String) {}
        func progress(_ stage: String, done: Int, total: Int) {
            lock.withLock {
                progressCalls.append((stage, done, total))
                if cancelAfterFirstProgress { cancelled = true }
            }
        }
        func epoch(_ record: EpochRecord, of total: Int) {
            lock.withLock {
                epochs += 1
                if cancelAfterFirstEpoch { cancelled = true }
            }
        }
    }

    func configuration(_ data: URL) throws -> TrainingConfiguration {
        var c = try TrainingConfiguration(data: data.path, output: work.appendingPathComponent("run").path, settings: TestSettings.local)
        c.useCache = false  // every image is computed, in batches the reporter can stop between
        c.folds = 1
        c.split = try SplitFractions(parsing: "50/25/25")
        c.training.epochs = 5
        c.heatmapExamples = 0
        return c
    }

    var runDirectoryExists: Bool { FileManager.default.fileExists(atPath: work.appendingPathComponent("run").path) }

    func testCancelledDuringEmbeddingStopsBeforeTheFirstBatch() throws {
        let recorder = Recorder(cancelAfterFirstProgress: true)
        XCTAssertThrowsError(try TrainingRun.run(try configuration(try makeDataset()), reporter: recorder)) {
            XCTAssertTrue($0 is TrainingCancelled, "\($0)")
        }
        // progress(0, 12) came, then the check before the first batch stopped it.
        XCTAssertEqual(recorder.progressCalls.count, 1, "\(recorder.progressCalls)")
        XCTAssertEqual(recorder.progressCalls.first?.1, 0)
        XCTAssertEqual(recorder.epochs, 0)
        XCTAssertFalse(runDirectoryExists)
    }

    func testCancelledDuringTrainingStopsAfterTheEpoch() throws {
        let recorder = Recorder(cancelAfterFirstEpoch: true)
        XCTAssertThrowsError(try TrainingRun.run(try configuration(try makeDataset()), reporter: recorder)) {
            XCTAssertTrue($0 is TrainingCancelled, "\($0)")
        }
        XCTAssertEqual(recorder.epochs, 1)
        XCTAssertFalse(runDirectoryExists)
    }

    /// Fine-tuning's members train side by side on two threads: a cancel after the first
    /// epoch (reported once every member finished it) stops all of them, with nothing written;
    /// an uncancelled run reports each epoch once, in order, averaged over the members.
    func testFineTuningMembersOnTwoThreadsStopTogetherAndReportEachEpochOnce() throws {
        var c = try configuration(try makeDataset())
        c.method = .finetune
        c.training.epochs = 3
        c.ensemble = 3
        let cancelling = Recorder(cancelAfterFirstEpoch: true)
        XCTAssertThrowsError(try TrainingRun.run(c, reporter: cancelling)) { XCTAssertTrue($0 is TrainingCancelled, "\($0)") }
        XCTAssertEqual(cancelling.epochs, 1)
        XCTAssertFalse(runDirectoryExists)

        final class Epochs: Reporter, @unchecked Sendable {
            let lock = NSLock()
            var seen: [Int] = []
            var isCancelled: Bool { false }
            func note(_ line: String) {}
            func progress(_ stage: String, done: Int, total: Int) {}
            func epoch(_ record: EpochRecord, of total: Int) { lock.withLock { seen.append(record.epoch) } }
        }
        let epochs = Epochs()
        let summary = try TrainingRun.run(c, reporter: epochs)
        XCTAssertEqual(epochs.seen, [1, 2, 3])
        XCTAssertTrue(FileManager.default.fileExists(atPath: (summary.modelDirectory as NSString).appendingPathComponent("member-2.safetensors")))
    }

    func testUncancelledRunWritesItsDirectory() throws {
        let recorder = Recorder()
        let summary = try TrainingRun.run(try configuration(try makeDataset()), reporter: recorder)
        XCTAssertEqual(recorder.epochs, 5)
        XCTAssertTrue(FileManager.default.fileExists(atPath: summary.modelDirectory))
    }

    func testOptionsAreCheckedBeforeTheDataIsRead() throws {
        var c = try TrainingConfiguration(data: work.appendingPathComponent("absent").path, output: work.appendingPathComponent("run").path, settings: TestSettings.local)
        c.training.epochs = 0
        XCTAssertThrowsError(try TrainingRun.run(c)) {
            XCTAssertEqual("\($0)", "epochs (--epochs) must be 1-1000 (got 0)")
        }
    }

    // Refused from the data set's class sizes, before any image is decoded or any sample drawn.
    func testOverBudgetRunIsRefusedBeforeAnyImageIsEmbedded() throws {
        var c = try configuration(try makeDataset())
        c.balance = .augmentTo(99_999_999_999)
        let recorder = Recorder()
        var expected = ""
        XCTAssertThrowsError(try TrainingOptionRules.checkBudget(
            trainImagesPerClass: TrainingOptionRules.expectedTrainImages(perClass: ["COVID-19": 6, "OTHER": 6], split: c.split),
            config: c)) { expected = "\($0)" }
        XCTAssertThrowsError(try TrainingRun.run(c, reporter: recorder)) {
            XCTAssertEqual("\($0)", expected)
            XCTAssertEqual(($0 as? TrainingOptionError)?.key, "budget")
        }
        XCTAssertTrue(recorder.progressCalls.isEmpty, "nothing embedded: \(recorder.progressCalls)")
        XCTAssertFalse(runDirectoryExists)
    }
}
