import Foundation
import LightboxTestSupport
import XCTest
import LightboxCore
@testable import LightboxData
import LightboxHead
import LightboxModels
@testable import LightboxWorkflows

/// A cross-fitted fine-tuning run's folds trained one by one, each by the code a Slurm task runs
/// (`FineTuneFoldJob.train(fold:)`, its result written to and read back from its file), give
/// the members, predictions and metrics of the run that trains them all together, bit for bit;
/// and the job and result files hold what they should and refuse what is not theirs. (The
/// one-node cluster test in LightboxCLITests runs the same through sbatch.)
final class FoldTaskTests: TemporaryFolderTestCase {
    /// The folds trained in this process, one after another, as the array's tasks train them:
    /// fold k with `threads[k]` threads, through its result file in `folder`. The frozen maps of
    /// the scored pictures are computed here, as a plain run computes them.
    struct FoldsOneByOne: PictureWorkDistributor, FoldTrainingExecutor {
        var folder: String
        var threads: [Int]
        var folds: FoldTrainingExecutor? { self }

        func outputs(of embedder: ImageEmbedder, cacheKey: String, work: ShardWork, paths: [String], description: String) throws -> [Float] {
            let result = try embedder.embed(paths: paths)
            XCTAssertEqual(result.paths, paths)
            return result.embeddings
        }

        func train(_ job: FineTuneFoldJob, reporter: Reporter) throws -> [FineTuneFoldResult] {
            let identity = try job.identity()
            return try (0..<job.folds).map { k in
                let path = (folder as NSString).appendingPathComponent(FineTuneFoldResult.fileName(fold: k, of: job.folds))
                try job.train(fold: k, settings: TestSettings.local.with(threads: threads[k])).write(to: path)
                return try FineTuneFoldResult.read(from: path, job: identity, fold: k, folds: job.folds, expectMembers: job.perFold,
                                                   epochs: job.epochs)
            }
        }
    }

    /// 40 developer pictures, 3 folds of 2 members, 2 epochs; the folds alone on 2, 1 and 2
    /// threads (folds 1 and 3 with their two members side by side, as a task with 2 cores
    /// trains them; fold 2's one after the other). The whole run trains its 6 members on 2.
    func testEachFoldTrainedAloneAsItsTaskDoesEqualsTheWholeRunBitForBit() throws {
        let data = try developerSubset(perClass: 20)
        func config(_ name: String) throws -> TrainingConfiguration {
            var config = try TrainingConfiguration(data: data, output: work.appendingPathComponent(name).path, settings: TestSettings.local)
            config.method = .finetune
            config.folds = 3
            config.ensemble = 2
            config.training.epochs = 2
            config.heatmapExamples = 0
            return config
        }
        _ = try TrainingRun.run(try config("whole"))
        let folder = work.appendingPathComponent("tasks").path
        try FileManager.default.createDirectory(atPath: folder, withIntermediateDirectories: true)
        _ = try TrainingRun.run(try config("folds"), distributor: FoldsOneByOne(folder: folder, threads: [2, 1, 2]))

        func bytes(_ run: String, _ name: String) -> Data? {
            FileManager.default.contents(atPath: work.appendingPathComponent(run).appendingPathComponent(name).path)
        }
        for m in 0..<6 {
            let name = "model/member-\(m).safetensors"
            XCTAssertNotNil(bytes("whole", name), name)
            XCTAssertEqual(bytes("folds", name), bytes("whole", name), name)
        }
        XCTAssertNil(bytes("whole", "model/member-6.safetensors"))
        XCTAssertEqual(bytes("folds", "predictions.csv"), bytes("whole", "predictions.csv"))
        func metrics(_ run: String) throws -> NSDictionary {
            var json = try XCTUnwrap(try JSONSerialization.jsonObject(with: XCTUnwrap(bytes(run, "metrics.json"))) as? [String: Any])
            json["seconds"] = nil
            json["timings"] = nil
            return json as NSDictionary
        }
        XCTAssertEqual(try metrics("folds"), try metrics("whole"))
        // The members differ from fold to fold, so the comparison above could fail.
        XCTAssertNotEqual(bytes("whole", "model/member-0.safetensors"), bytes("whole", "model/member-2.safetensors"))
    }

    /// A job over four developer pictures in two folds (a picture of each class in each), 2 epochs.
    func smallJob() throws -> (FineTuneFoldJob, [LabeledImage]) {
        let list = try developerSubset(perClass: 2)
        let dataset = try DatasetLoader.load(list, kind: nil, covidOptions: .init(), labels: nil, saltFolder: work.path)
        let images = dataset.images
        XCTAssertEqual(images.count, 4)
        let crossFit = CrossFitSplit(folds: [[images[0], images[2]], [images[1], images[3]]], test: [])
        var config = try TrainingConfiguration(data: list, output: work.appendingPathComponent("run").path, settings: TestSettings.local)
        config.method = .finetune
        config.folds = 2
        config.training.seed = 7
        config.training.epochs = 2
        let plan = FineTunePlan(crossFit: crossFit, perFold: 1, seed: 7)
        let job = try FineTuneFoldJob(plan: plan, classes: dataset.classes, config: config,
                                      weightsSHA256: PretrainedMobileNetV2.installedDigest(in: TestSettings.weightsFolder) ?? "none")
        return (job, plan.pool)
    }

    func testTheJobFileReadsBackAsWrittenAndNamesItsProblems() throws {
        var (job, pool) = try smallJob()
        XCTAssertEqual(job.folds, 2)
        XCTAssertEqual(job.pictures.map(\.path), pool.map { URL(fileURLWithPath: $0.path).standardizedFileURL.path })
        XCTAssertEqual(job.pictures.map(\.fold), job.pictures.map(\.fold).sorted())
        let file = work.appendingPathComponent(FineTuneFoldJob.fileName).path
        job.seed = .max  // a seed JSON numbers would round
        try job.encoded().write(to: URL(fileURLWithPath: file))
        XCTAssertEqual(try FineTuneFoldJob.read(from: file), job)
        let identity = try job.identity()
        job.seed = 8
        XCTAssertNotEqual(try job.identity(), identity)

        job.pictures.reverse()
        try job.encoded().write(to: URL(fileURLWithPath: file))
        XCTAssertThrowsError(try FineTuneFoldJob.read(from: file)) { error in
            XCTAssertTrue("\(error)".contains(file) && "\(error)".contains("fold by fold"), "\(error)")
        }
        try Data("{\"format\": 1}".utf8).write(to: URL(fileURLWithPath: file))
        XCTAssertThrowsError(try FineTuneFoldJob.read(from: file)) { error in
            XCTAssertTrue("\(error)".contains("\(file): not a fold job"), "\(error)")
        }
    }

    func testAFoldResultKeepsEveryBitAndIsNeverTakenForAnotherJobsOrFolds() throws {
        let (job, _) = try smallJob()
        let identity = try job.identity()
        let records = [[EpochRecord(epoch: 1, trainLoss: 0.1 + 0.2, trainAccuracy: 1.0 / 3),
                        EpochRecord(epoch: 2, trainLoss: .leastNonzeroMagnitude, trainAccuracy: 0.7, valLoss: 2.5e-300, valAccuracy: nil)]]
        let tensors = ["head.bias": Tensor(shape: [2], values: [Float.pi, -0.0]), "features.14.conv.0.0.weight": Tensor(shape: [1], values: [1e-40])]
        let result = FineTuneFoldResult(fold: 1, folds: 2, job: identity, members: [tensors], records: records, seconds: 3)
        let path = work.appendingPathComponent(FineTuneFoldResult.fileName(fold: 1, of: 2)).path
        XCTAssertTrue(path.hasSuffix("fold-2-of-2.safetensors"))
        try result.write(to: path)
        let back = try FineTuneFoldResult.read(from: path, job: identity, fold: 1, folds: 2, expectMembers: 1, epochs: 2)
        XCTAssertEqual(back.records, records)
        XCTAssertEqual(back.members[0]["head.bias"]?.values.map(\.bitPattern), [Float.pi.bitPattern, (-0.0 as Float).bitPattern])
        XCTAssertEqual(back.members[0]["features.14.conv.0.0.weight"]?.values, [1e-40])
        XCTAssertNotNil(FineTuneFoldResult.existing(at: path, job: job, identity: identity, fold: 1))
        XCTAssertNil(FineTuneFoldResult.existing(at: path, job: job, identity: identity, fold: 0))

        func refused(_ read: () throws -> FineTuneFoldResult, _ message: String, line: UInt = #line) {
            XCTAssertThrowsError(try read(), line: line) { error in
                XCTAssertTrue("\(error)".contains(path) && "\(error)".contains(message), "\(error)", line: line)
            }
        }
        refused({ try FineTuneFoldResult.read(from: path, job: "another", fold: 1, folds: 2, expectMembers: 1, epochs: 2) }, "another fold job")
        refused({ try FineTuneFoldResult.read(from: path, job: identity, fold: 0, folds: 2, expectMembers: 1, epochs: 2) }, "holds fold 2 of 2")
        refused({ try FineTuneFoldResult.read(from: path, job: identity, fold: 1, folds: 2, expectMembers: 2, epochs: 2) }, "holds 1 members")
        refused({ try FineTuneFoldResult.read(from: path, job: identity, fold: 1, folds: 2, expectMembers: 1, epochs: 3) }, "2 epoch records, not 3")
        var longer = job
        longer.epochs = 3
        XCTAssertNil(FineTuneFoldResult.existing(at: path, job: longer, identity: try longer.identity(), fold: 1))
        let data = try Data(contentsOf: URL(fileURLWithPath: path))
        try data.prefix(data.count - 5).write(to: URL(fileURLWithPath: path))
        refused({ try FineTuneFoldResult.read(from: path, job: identity, fold: 1, folds: 2, expectMembers: 1, epochs: 2) }, "truncated or corrupt")
    }

    func testAFoldTaskRefusesAPictureChangedSinceTheRunWasSubmitted() throws {
        let (job, _) = try smallJob()
        guard PretrainedMobileNetV2.isInstalled(in: TestSettings.weightsFolder) else { throw XCTSkip("needs the pretrained weights") }
        let changed = job.pictures[1].path
        try Data("not the same picture".utf8).write(to: URL(fileURLWithPath: changed))
        XCTAssertThrowsError(try job.train(fold: 0, settings: TestSettings.local)) { error in
            XCTAssertTrue("\(error)".contains("\(changed): the file changed since the run was submitted"), "\(error)")
        }
        var other = job
        other.weightsSHA256 = String(repeating: "0", count: 64)
        XCTAssertThrowsError(try other.train(fold: 0, settings: TestSettings.local)) { error in
            XCTAssertTrue("\(error)".contains("are not the ones the run was submitted with"), "\(error)")
        }
    }
}
