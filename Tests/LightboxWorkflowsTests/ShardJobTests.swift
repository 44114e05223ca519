import Foundation
import XCTest
import LightboxCore
import LightboxImaging
import LightboxTestSupport
import LightboxModels
@testable import LightboxInterop
@testable import LightboxWorkflows

/// A shard job is a value that survives the trip through its file, and a Slurm task builds from
/// it exactly the embedder the submitting command used (same cache key, preprocessing, window).
final class ShardJobTests: TemporaryFolderTestCase {
    func roundTrip(_ job: ShardJob) throws -> ShardJob {
        let file = work.appendingPathComponent(ShardJob.fileName)
        try job.encoded().write(to: file)
        return try ShardJob.read(from: file.path)
    }

    func testEveryKindOfWorkSurvivesItsFile() throws {
        for work in [ShardWork.backbone(resize: .pad, equalization: .clahe), .modelBackbone(model: "/m/model"),
                     .modelProbabilities(model: "/m/model"), .frozenModules(through: 13, resize: .crop, equalization: .none)] {
            let job = ShardJob(work: work, dicomWindow: .minmax, batch: 8)
            XCTAssertEqual(try roundTrip(job), job)
        }
    }

    /// A bf16 job makes every task compute in bf16 (this CPU's kernels, else their emulation:
    /// the same cache key), whatever the task's own settings; job files written before
    /// precision existed mean fp32.
    func testTheJobsPrecisionGovernsEveryTask() throws {
        let bf16 = ShardJob(work: .frozenModules(through: 13, resize: .crop, equalization: .none), dicomWindow: .first, precision: .bf16)
        XCTAssertEqual(try roundTrip(bf16), bf16)
        let (embedder, key) = try bf16.makeEmbedder(settings: TestSettings.local.with(arithmetic: .fp32))
        XCTAssertTrue(key.hasSuffix("+bf16"), key)
        XCTAssertTrue(embedder.network.arithmetic.isBF16)
        let old = work.appendingPathComponent("old-job.json")
        try Data(#"{"batch": 16, "dicomWindow": "first", "work": {"backbone": {"resize": "crop", "equalization": "none"}}}"#.utf8).write(to: old)
        XCTAssertEqual(try ShardJob.read(from: old.path).precision, .fp32)
    }

    func testTheTaskBuildsTheSubmittersEmbedder() throws {
        let job = ShardJob(work: .backbone(resize: .pad, equalization: .histogram), dicomWindow: .minmax)
        let (embedder, key) = try job.makeEmbedder(settings: TestSettings.local)
        let backbone = try Backbone.pretrained(Preprocessor(policy: .pad, equalization: .histogram), weightsFolder: TestSettings.weightsFolder, decoder: ImageDecoder(maxPixels: LightboxSettings.defaultMaxPixels, dicomWindow: .first), parallelism: TestSettings.local.threads, arithmetic: .fp32)
        XCTAssertEqual(key, backbone.cacheKey)
        XCTAssertEqual(embedder.preprocessor, backbone.embedder.preprocessor)
        XCTAssertEqual(embedder.decoder.dicomWindow, .minmax)

        let (maps, mapsKey) = try ShardJob(work: .frozenModules(through: 13, resize: .crop, equalization: .none), dicomWindow: .first).makeEmbedder(settings: TestSettings.local)
        XCTAssertEqual(mapsKey, "mobilenet-v2-features-0-13@\((PretrainedMobileNetV2.installedDigest(in: TestSettings.weightsFolder) ?? "").prefix(16))")
        XCTAssertEqual(maps.network.embeddingChannels, 14 * 14 * 96)
    }

    /// A model's job names what its shards compute; a job file that says otherwise is refused.
    func testAModelsWorkIsWhatItsMembersRead() throws {
        let model = work.appendingPathComponent("model").path
        try InteropFixtures.fineTunedBundle().write(to: model)
        let trained = try TrainedModel(bundle: try ModelBundle.read(from: model), settings: TestSettings.local)
        XCTAssertEqual(ShardWork.of(model: model, trained.cachedPass(baseWeightsSHA256: "")), .modelProbabilities(model: model))
        XCTAssertThrowsError(try ShardJob(work: .modelBackbone(model: model), dicomWindow: .first).makeEmbedder(settings: TestSettings.local)) {
            XCTAssertTrue("\($0)".contains("work per picture is its probabilities, but the job"), "\($0)")
        }
        let head = work.appendingPathComponent("head").path
        try InteropFixtures.headEnsembleBundle().write(to: head)
        let headModel = try TrainedModel(bundle: try ModelBundle.read(from: head), settings: TestSettings.local)
        XCTAssertEqual(ShardWork.of(model: head, headModel.cachedPass(baseWeightsSHA256: "")), .modelBackbone(model: head))
    }

    func testABrokenJobFileIsOneClearError() throws {
        let file = work.appendingPathComponent("job.json")
        try Data("{\"work\": 3}".utf8).write(to: file)
        XCTAssertThrowsError(try ShardJob.read(from: file.path)) { XCTAssertTrue("\($0)".hasPrefix("\(file.path): not a shard job"), "\($0)") }
        var job = ShardJob(work: .backbone(resize: .crop, equalization: .none), dicomWindow: .first)
        job.batch = 0
        try job.encoded().write(to: file)
        XCTAssertThrowsError(try ShardJob.read(from: file.path))
    }
}
