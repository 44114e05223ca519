import Foundation
import LightboxData
import LightboxEmbedding
import LightboxHead
import LightboxImaging
import LightboxInterop
import LightboxModels

/// Cross-fitting for the head method: `perFold` members for each fold k, trained on every fold
/// but k (their balancing and augmented copies drawn from those pictures only, seed + k * perFold
/// + e) and scoring fold k. Every fold picture's out-of-fold probability comes from the members
/// that never saw its patient; a held-out test set is scored by all of them.
enum CrossFitHeads {
    struct Result {
        /// The members, fold by fold: `foldMembers[k]` are those that left fold k out.
        var heads: [DenseHead]
        var foldMembers: [Range<Int>]
        /// Per fold picture (`CrossFitSplit.foldImages` order), the mean probabilities of the
        /// members that did not train on it, `[pictures, classes]`.
        var outOfFold: [Float]
        /// Each fold picture's fold (the members that scored it).
        var foldOf: [Int]
        var histories: [[EpochRecord]]
        var balanceNotes: [String]
        /// Training rows of the first member (augmented copies included).
        var trainImages: Int
    }

    static func train(_ crossFit: CrossFitSplit, classes: [String], originals: TrainingRun.Originals, embedder: SampleEmbedder,
                      digests: [String: Swift.Result<String, ImageDecodingError>], width: Int, config: TrainingConfiguration,
                      reporter: Reporter, checkpoint: @escaping () throws -> Void) throws -> Result {
        let perFold = config.membersPerFold, k = classes.count
        var result = Result(heads: [], foldMembers: [], outOfFold: [], foldOf: [], histories: [], balanceNotes: [], trainImages: 0)
        for fold in crossFit.folds.indices {
            reporter.note("cross-fitting: fold \(fold + 1) of \(crossFit.folds.count) held out, \(perFold) member(s)")
            var foldConfig = config
            foldConfig.training.seed = config.training.seed &+ UInt64(fold * perFold)
            // Training rows from every other fold; fold k as the scored part (never trained on).
            let part = DatasetSplit(train: crossFit.training(excludingFold: fold), validation: [], test: crossFit.folds[fold])
            let sets = try TrainingRun.trainingSets(part, classes: classes, originals: originals, embedder: embedder, digests: digests,
                                                    width: width, config: foldConfig, reporter: reporter, checkpoint: checkpoint)
            if fold == 0 { (result.balanceNotes, result.trainImages) = (sets.balanceNotes, sets.train.count) }
            let first = result.heads.count
            var sum = [Float](repeating: 0, count: sets.test.count * k)
            for e in 0..<perFold {
                var options = config.training
                options.seed = config.training.seed &+ UInt64(fold * perFold + e)
                let trained = try HeadTrainer.train(train: sets.train, validation: nil, classes: k, options: options,
                                                    shouldStop: { reporter.isCancelled }) { record in
                    // The live curves follow the first member.
                    if fold == 0 && e == 0 { reporter.epoch(record, of: config.training.epochs) }
                }
                try checkpoint()
                result.heads.append(trained.head)
                result.histories.append(trained.history)
                for (i, p) in trained.head.predict(sets.test.features, rows: sets.test.count).enumerated() { sum[i] += p }
            }
            result.foldMembers.append(first..<result.heads.count)
            result.outOfFold += sum.map { $0 / Float(perFold) }
            result.foldOf += [Int](repeating: fold, count: sets.test.count)
        }
        return result
    }
}

extension TrainingRun {
    /// The head method cross-fitted: the members of every fold, their out-of-fold probabilities,
    /// and the held-out test set's probabilities by the whole ensemble.
    static func trainCrossFitHeads(_ crossFit: CrossFitSplit, classes: [String], originals: Originals, embedder: SampleEmbedder,
                                   digests: [String: Result<String, ImageDecodingError>], backbone: Backbone,
                                   backboneFiles: [String: Data], dataset: Dataset, config: TrainingConfiguration,
                                   reporter: Reporter, checkpoint: @escaping () throws -> Void) throws -> TrainedRun {
        let width = backbone.embedder.network.embeddingChannels
        let fitted = try CrossFitHeads.train(crossFit, classes: classes, originals: originals, embedder: embedder, digests: digests,
                                             width: width, config: config, reporter: reporter, checkpoint: checkpoint)
        let model = TrainedModel(backbone: backbone, members: fitted.heads.map { DenseHeadMember($0) })
        let test = crossFit.test.flatMap { originals.embeddingOf[$0.path]! }
        let epochs = fitted.histories.map(\.count).min() ?? 0
        return TrainedRun(model: model, history: (0..<epochs).map { e in FineTuneTraining.mean(fitted.histories.map { $0[e] }) },
                          keptEpoch: epochs, scoredProbabilities: fitted.outOfFold, validationProbabilities: [],
                          heldOutProbabilities: crossFit.test.isEmpty ? [] : try model.probabilities(embeddings: test, rows: crossFit.test.count),
                          foldMembers: fitted.foldMembers, validation: nil, balanceNotes: fitted.balanceNotes,
                          trainImages: fitted.trainImages, backbone: ModelBundle.Backbone(backbone), backboneFiles: backboneFiles,
                          facts: ["data": dataset.source, "folds": "\(crossFit.folds.count)", "ensemble": "\(fitted.heads.count)",
                                  "epochs_run": fitted.histories.map { "\($0.count)" }.joined(separator: ","),
                                  "seed": "\(config.training.seed)", "balance": config.balance.description],
                          title: "Lightbox training run (cross-fitted)", ensemble: fitted.heads.count)
    }
}
