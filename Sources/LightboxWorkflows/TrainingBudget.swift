import Foundation
import LightboxData
import LightboxHead

/// What a run would cost, estimated from the training split's class sizes before any image is
/// augmented or embedded.
public struct TrainingEstimate: Sendable, Equatable, Codable {
    /// Augmented copies to draw and embed (TrainingSetBuilder's rule; an upper bound where
    /// augment-to:N leaves samples out).
    public var augmentedImages: Double
    /// Rows the head trains on each epoch.
    public var trainingRows: Double
    /// Embeddings held at once: every original, every augmented copy, the training table.
    public var memoryBytes: Double
    /// Embedding (originals uncached, augmented copies) and head training, on this project's
    /// reference machine (2 cores, release build).
    public var seconds: Double
}

/// The work one run may ask for, checked before it starts (CLI and Studio alike).
extension TrainingOptionRules {
    /// At most this many augmented copies a run: about 8 minutes of embedding here, and room
    /// for the 2020 blog's augment-to:135 many times over.
    public static let maxAugmentedImages = 50_000
    /// Embeddings and tables in memory (the 20,000-image benchmark peaks at 372 MiB in all).
    public static let maxMemoryBytes = 4 << 30
    /// The whole run's estimated time.
    public static let maxSeconds = 2 * 3600

    // Costs measured on the reference machine (2 cores, release build, covid-chestxray):
    // 419 originals embed in about 2.8 s and 1,168 augmented copies in about 10 s; the head
    // takes about 17 µs a training row a epoch at batch 16 (88 µs at batch 1) with 100 hidden
    // units, growing with the units. Rounded up.
    static let secondsPerOriginal = 0.008
    static let secondsPerAugmented = 0.010
    static func secondsPerRowEpoch(_ t: TrainingOptions) -> Double {
        (12e-6 + 80e-6 / Double(max(1, t.batchSize))) * max(1, Double(t.denseUnits) / 100)
    }
    // Fine-tuning, measured the same way: the default job (292 training images, 6 epochs, 3
    // members) trains in 37 s with two members side by side (7.1 ms an image a member a
    // epoch, all included), 56 s one member at a time (10.7 ms, what one thread approaches).
    // The budget takes the slower, rounded up.
    static let secondsPerFineTuneImageStep = 0.012
    /// A training picture kept decoded for fine-tuning (224 x 224 x 3 bytes), and a held-out
    /// picture's frozen features (14 x 14 x 96 float32).
    static let bytesPerFineTuneSquare = 224.0 * 224 * 3
    static let bytesPerFrozenFeatures = 14.0 * 14 * 96 * 4

    /// An embedding (1280 float32) and what holds it: the sample, its cache key, dictionary slots.
    static let bytesPerEmbedding = 1280.0 * 4
    static let overheadPerSample = 1024.0

    /// The training split's expected images per class before the split is made (`images` per
    /// class in the whole data set): the train share of each, rounded up. Used for the early
    /// check; the exact one follows the split.
    public static func expectedTrainImages(perClass images: [String: Int], split: SplitFractions) -> [String: Int] {
        images.mapValues { max(1, Int((Double($0) * split.train).rounded(.up))) }
    }

    /// The cost of training on `trainImagesPerClass` (the training split's images per class)
    /// with `config`'s balancing, augmentation and head options. Counts are Doubles: an
    /// augment-to:N from a request may be any Int, and products must not overflow.
    public static func estimate(trainImagesPerClass: [String: Int], config: TrainingConfiguration) -> TrainingEstimate {
        let copies = Double(max(0, config.augmentCopies))
        let counts = trainImagesPerClass.values.filter { $0 > 0 }.map(Double.init)
        if config.method == .finetune {
            // Every training picture kept decoded and augmented afresh each epoch for each member;
            // held-out pictures through the frozen modules once (and the audit's two passes).
            // Cross-fitting: `train` is one member's share; every picture is decoded, and every
            // picture is scored out of fold (an upper bound: the members share each epoch's
            // frozen work).
            let train = counts.reduce(0, +), originals = train / max(config.memberShare.train, 1e-6)
            let decoded = config.crossFits ? originals : train, heldOut = config.crossFits ? originals : originals - train
            let steps = train * Double(max(1, config.training.epochs)) * Double(max(1, config.members))
            return TrainingEstimate(augmentedImages: 0, trainingRows: train,
                                    memoryBytes: decoded * bytesPerFineTuneSquare + heldOut * bytesPerFrozenFeatures,
                                    seconds: originals * secondsPerOriginal + steps * secondsPerFineTuneImageStep
                                        + heldOut * 3 * secondsPerOriginal)
        }
        // TrainingSetBuilder: each image plus its copies; then balancing.
        let bases = counts.map { $0 * (1 + copies) }
        var augmented = counts.reduce(0) { $0 + $1 * copies }
        var rows = bases.reduce(0, +)
        switch config.balance {
        case .none:
            break
        case .oversample:
            rows = (bases.max() ?? 0) * Double(bases.count)
        case .augmentTo(let target):
            let n = Double(target)
            augmented = 0
            for (count, base) in zip(counts, bases) {
                // Over N: a seeded subset of N, which may keep up to N (or all) of the copies.
                // Under N: every copy, and more copies up to N.
                augmented += base > n ? min(n, count * copies) : count * copies + (n - base)
            }
            rows = n * Double(bases.count)
        }
        let trainOriginals = counts.reduce(0, +)
        let originals = trainOriginals / max(config.split.train, 1e-6)
        let memory = originals * (bytesPerEmbedding + overheadPerSample / 2)
            + augmented * (bytesPerEmbedding + overheadPerSample)
            + (rows + originals - trainOriginals) * bytesPerEmbedding
        let epochs = Double(max(1, config.training.epochs))
        let seconds = originals * secondsPerOriginal + augmented * secondsPerAugmented
            + epochs * (rows + originals - trainOriginals) * secondsPerRowEpoch(config.training)
        return TrainingEstimate(augmentedImages: augmented, trainingRows: rows, memoryBytes: memory, seconds: seconds)
    }

    /// Refuses a run over the budget, with the estimate and the limit, before any augmented copy
    /// is drawn: at most `maxAugmentedImages` augmented images, `maxMemoryBytes` of embeddings,
    /// `maxSeconds` of estimated time.
    public static func checkBudget(trainImagesPerClass: [String: Int], config: TrainingConfiguration) throws {
        let e = estimate(trainImagesPerClass: trainImagesPerClass, config: config)
        let asked = "balance \(config.balance), augmentCopies \(config.augmentCopies)"
        if e.augmentedImages > Double(maxAugmentedImages) {
            throw TrainingOptionError(key: "budget", "this run would embed about \(count(e.augmentedImages)) augmented images (\(asked)); the limit is \(maxAugmentedImages) a run: lower N in augment-to:N (--balance) or augmentCopies (--augment-copies)")
        }
        if config.method == .finetune {
            let t = config.training
            if e.memoryBytes > Double(maxMemoryBytes) {
                let gib = String(format: "%.1f", e.memoryBytes / Double(1 << 30))
                throw TrainingOptionError(key: "budget", "fine-tuning on \(count(e.trainingRows)) training images would hold about \(gib) GiB of decoded pictures; the limit is \(maxMemoryBytes >> 30) GiB: use fewer images, or --method head")
            }
            if e.seconds > Double(maxSeconds) {
                let hours = String(format: "%.1f", e.seconds / 3600)
                throw TrainingOptionError(key: "budget", "fine-tuning is estimated to take about \(hours) hours (\(count(e.trainingRows)) training images, \(t.epochs) epochs, \(config.members) member(s)); the limit is \(maxSeconds / 3600) hours: lower --ensemble or --epochs, or use --method head")
            }
            return
        }
        if e.memoryBytes > Double(maxMemoryBytes) {
            let gib = String(format: "%.1f", e.memoryBytes / Double(1 << 30))
            throw TrainingOptionError(key: "budget", "this run would hold about \(gib) GiB of embeddings (\(count(e.trainingRows)) training rows, \(asked)); the limit is \(maxMemoryBytes >> 30) GiB")
        }
        if e.seconds > Double(maxSeconds) {
            let hours = String(format: "%.1f", e.seconds / 3600)
            let t = config.training
            throw TrainingOptionError(key: "budget", "this run is estimated to take about \(hours) hours (\(count(e.augmentedImages)) augmented images to embed, \(count(e.trainingRows)) training rows for \(t.epochs) epochs, batch \(t.batchSize), \(t.denseUnits) hidden units); the limit is \(maxSeconds / 3600) hours")
        }
    }

    /// A whole count as digits (rounded up), or in scientific notation beyond Int's range.
    static func count(_ x: Double) -> String {
        x < 9e18 ? String(Int(x.rounded(.up))) : String(format: "%.3g", x)
    }
}
