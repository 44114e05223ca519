import Foundation
import LightboxTestSupport
import XCTest
import LightboxData
import LightboxInterop
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

/// The whole fine-tuned cross-fitted run on part of the developer data (80 pictures with their
/// patients, 3 folds, 1 epoch, to be quick): every picture's out-of-fold probability in
/// predictions.csv is what its own fold's member, read back from the bundle, gives it; no patient
/// is in two folds; and a rerun with the same seed writes the same members, byte for byte.
final class CrossFittedRunTests: TemporaryFolderTestCase {
    func testFineTunedOutOfFoldProbabilitiesComeFromTheFoldsMemberAndRerunsAreIdentical() throws {
        let data = try developerSubset(perClass: 40)
        func train(_ name: String) throws -> (TrainingSummary, URL) {
            var config = try TrainingConfiguration(data: data, output: work.appendingPathComponent(name).path,
                                                   settings: TestSettings.local)
            config.method = .finetune
            config.folds = 3
            config.training.epochs = 1
            config.heatmapExamples = 0
            return (try TrainingRun.run(config), work.appendingPathComponent(name))
        }
        let (summary, run) = try train("a")
        XCTAssertEqual(summary.folds, 3)
        XCTAssertEqual(summary.evaluation, "out-of-fold")
        XCTAssertEqual(summary.foldAUCs.count, 3)

        // predictions.csv: path, group, label, p_COVID-19, p_OTHER, predicted, fold.
        let rows = try String(contentsOf: run.appendingPathComponent("predictions.csv"), encoding: .utf8)
            .split(separator: "\n").dropFirst().map { $0.split(separator: ",", omittingEmptySubsequences: false).map(String.init) }
        XCTAssertEqual(rows.count, summary.metrics.nImages)
        var foldsOfPatient: [String: Set<String>] = [:]
        for row in rows { foldsOfPatient[row[1], default: []].insert(row[6]) }
        XCTAssertTrue(foldsOfPatient.values.allSatisfy { $0.count == 1 }, "a patient's pictures straddle folds")
        XCTAssertEqual(Set(rows.map { $0[6] }), ["1", "2", "3"])

        let bundle = try ModelBundle.read(from: run.appendingPathComponent("model").path)
        let model = try TrainedModel(bundle: bundle, settings: TestSettings.local)
        XCTAssertEqual(model.members.count, 3)
        // Every picture of each fold, through the fold's member and through another fold's.
        for fold in 0..<3 {
            let sample = rows.filter { $0[6] == "\(fold + 1)" }
            let own = try model.keeping(members: fold..<(fold + 1)).predict(paths: sample.map { $0[0] }).probabilities
            let other = try model.keeping(members: ((fold + 1) % 3)..<((fold + 1) % 3 + 1)).predict(paths: sample.map { $0[0] }).probabilities
            for (i, row) in sample.enumerated() {
                XCTAssertEqual(Double(row[3])!, Double(own[i * 2]), accuracy: 2e-6, row[0])
            }
            XCTAssertNotEqual(own, other, "the members agree, so the check above cannot tell them apart")
        }

        _ = try train("b")
        for name in (try FileManager.default.contentsOfDirectory(atPath: run.appendingPathComponent("model").path)).sorted()
            where name.hasSuffix(".safetensors") {
            XCTAssertEqual(FileManager.default.contents(atPath: run.appendingPathComponent("model/\(name)").path),
                           FileManager.default.contents(atPath: work.appendingPathComponent("b/model/\(name)").path), name)
        }
        XCTAssertEqual(try String(contentsOf: run.appendingPathComponent("predictions.csv"), encoding: .utf8),
                       try String(contentsOf: work.appendingPathComponent("b/predictions.csv"), encoding: .utf8))
    }
}

extension TemporaryFolderTestCase {
    /// A CSV list (path, label, group) of the first `perClass` pictures of each class in the
    /// developer data's metadata, patients kept.
    func developerSubset(perClass: Int) throws -> String {
        let shared = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
            .deletingLastPathComponent().deletingLastPathComponent().appendingPathComponent("shared/data/covid-chestxray")
        guard FileManager.default.fileExists(atPath: shared.path) else { throw XCTSkip("no developer data at \(shared.path)") }
        let dataset = try DatasetLoader.load(shared.path, kind: .covidChestxray, covidOptions: .init(), labels: nil,
                                             saltFolder: work.path)
        // The pictures are copied beside the list: a list's paths may not leave its folder.
        let folder = work.appendingPathComponent("subset")
        try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
        var lines = ["path,label,group"]
        for c in dataset.classes {
            for image in dataset.images.filter({ $0.label == c }).prefix(perClass) {
                let name = (image.path as NSString).lastPathComponent
                try FileManager.default.copyItem(atPath: image.path, toPath: folder.appendingPathComponent(name).path)
                lines.append([name, image.label, image.group].map(CSVText.field).joined(separator: ","))
            }
        }
        let list = folder.appendingPathComponent("subset.csv")
        try (lines.joined(separator: "\n") + "\n").write(to: list, atomically: true, encoding: .utf8)
        return list.path
    }
}
