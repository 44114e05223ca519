import Foundation
import LightboxTestSupport
import XCTest
import LightboxData
@testable import LightboxWorkflows
@testable import LightboxHead

/// Cross-fitting the head method on the developer data: each picture's out-of-fold probability
/// is the one member's that left its fold (and so its patient) out of training.
final class CrossFittingTests: TemporaryFolderTestCase {
    func testEachPicturesOutOfFoldProbabilityComesFromTheMemberThatDidNotTrainOnIt() throws {
        let shared = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
            .deletingLastPathComponent().deletingLastPathComponent().appendingPathComponent("shared/data/covid-chestxray")
        guard FileManager.default.fileExists(atPath: shared.path) else { throw XCTSkip("no developer data at \(shared.path)") }
        var config = try TrainingConfiguration(data: shared.path, output: work.appendingPathComponent("run").path, settings: TestSettings.local)
        config.training.epochs = 3
        let reporter = SilentReporter()
        var (dataset, digests) = try TrainingRun.loadData(config, reporter)
        let (backbone, _) = try TrainingRun.resolveBackbone(config, reporter)
        let embedder = backbone.sampleEmbedder(cache: true, directory: config.settings.folder("embeddings"))
        let originals = try TrainingRun.embedOriginals(&dataset, embedder: embedder, digests: digests, config: config, reporter: reporter,
                                                       checkpoint: {})
        let crossFit = try FoldSplitter.split(dataset.images, folds: 3, seed: 42)
        let result = try CrossFitHeads.train(crossFit, classes: dataset.classes, originals: originals, embedder: embedder, digests: digests,
                                             width: backbone.embedder.network.embeddingChannels, config: config, reporter: reporter,
                                             checkpoint: {})
        let pictures = crossFit.foldImages, k = dataset.classes.count
        XCTAssertEqual(result.heads.count, 3)
        XCTAssertEqual(result.outOfFold.count, pictures.count * k)
        for (i, picture) in pictures.enumerated() {
            let fold = result.foldOf[i]
            XCTAssertTrue(crossFit.folds[fold].contains(picture))
            XCTAssertFalse(crossFit.training(excludingFold: fold).contains { $0.group == picture.group },
                           "\(picture.path): its member trained on its patient")
            let own = result.heads[fold].predict(originals.embeddingOf[picture.path]!, rows: 1)
            XCTAssertEqual(Array(result.outOfFold[(i * k)..<((i + 1) * k)]), own, picture.path)
        }
        // The members differ (different training pictures and seeds), so the check above can fail.
        XCTAssertNotEqual(result.heads[0].w1, result.heads[1].w1)
    }
}
