import Foundation
import LightboxData
import LightboxEmbedding
import LightboxHead
import LightboxImaging
import LightboxInterop

/// Cross-fitting for the head method (issue 24, work in progress on this branch): K members,
/// member k trained on every fold but k (its balancing and augmented copies drawn from those
/// pictures only, seed + k) and scoring fold k. Every fold picture's out-of-fold probability
/// comes from the one member that never saw its patient.
enum CrossFitHeads {
    struct Result {
        /// The members, member k the one that left fold k out.
        var heads: [DenseHead]
        /// Per fold picture (`CrossFitSplit.foldImages` order), the probabilities of the member
        /// that did not train on it, `[pictures, classes]`.
        var outOfFold: [Float]
        /// Each fold picture's fold (the member that scored it).
        var foldOf: [Int]
        var histories: [[EpochRecord]]
    }

    static func train(_ crossFit: CrossFitSplit, classes: [String], originals: TrainingRun.Originals, embedder: SampleEmbedder,
                      digests: [String: Swift.Result<String, ImageDecodingError>], width: Int, config: TrainingConfiguration,
                      reporter: Reporter, checkpoint: @escaping () throws -> Void) throws -> Result {
        var heads: [DenseHead] = [], outOfFold: [Float] = [], foldOf: [Int] = [], histories: [[EpochRecord]] = []
        for k in crossFit.folds.indices {
            reporter.note("cross-fitting: member \(k + 1) of \(crossFit.folds.count) (fold \(k + 1) held out)")
            var memberConfig = config
            memberConfig.training.seed = config.training.seed &+ UInt64(k)
            // Training rows from every other fold; fold k as the scored part (never trained on).
            let part = DatasetSplit(train: crossFit.training(excludingFold: k), validation: [], test: crossFit.folds[k])
            let sets = try TrainingRun.trainingSets(part, classes: classes, originals: originals, embedder: embedder, digests: digests,
                                                    width: width, config: memberConfig, reporter: reporter, checkpoint: checkpoint)
            let result = try HeadTrainer.train(train: sets.train, validation: nil, classes: classes.count,
                                               options: memberConfig.training, shouldStop: { reporter.isCancelled })
            try checkpoint()
            heads.append(result.head)
            histories.append(result.history)
            outOfFold += result.head.predict(sets.test.features, rows: sets.test.count)
            foldOf += [Int](repeating: k, count: sets.test.count)
        }
        return Result(heads: heads, outOfFold: outOfFold, foldOf: foldOf, histories: histories)
    }
}
