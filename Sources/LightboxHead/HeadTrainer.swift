import Foundation
import LightboxCore
import LightboxKernels

/// Training options, with Teachable Machine's defaults.
public struct TrainingOptions: Sendable, Equatable, Codable {
    public var epochs = 50
    public var batchSize = 16
    public var learningRate: Float = 0.001
    public var denseUnits = 100
    public var dropout: Float = 0
    /// Stop when validation loss has not improved for this many epochs (0: never),
    /// keeping the best epoch's weights.
    public var earlyStoppingPatience = 0
    /// Weigh each class's loss by total / (classes * count) (Keras's "balanced").
    public var classWeights = false
    public var seed: UInt64 = 42

    public init() {}
}

/// One epoch's record.
public struct EpochRecord: Sendable, Equatable, Codable {
    public var epoch: Int
    public var trainLoss: Double
    public var trainAccuracy: Double
    public var valLoss: Double?
    public var valAccuracy: Double?

    public init(epoch: Int, trainLoss: Double, trainAccuracy: Double, valLoss: Double? = nil, valAccuracy: Double? = nil) {
        self.epoch = epoch
        self.trainLoss = trainLoss
        self.trainAccuracy = trainAccuracy
        self.valLoss = valLoss
        self.valAccuracy = valAccuracy
    }

    enum CodingKeys: String, CodingKey {
        case epoch, trainLoss = "train_loss", trainAccuracy = "train_accuracy", valLoss = "val_loss", valAccuracy = "val_accuracy"
    }
}

/// Embeddings with their class indices.
public struct LabeledEmbeddings: Sendable {
    public var features: [Float]
    public var labels: [Int]
    public let width: Int

    public init(features: [Float], labels: [Int], width: Int) {
        precondition(features.count == labels.count * width)
        self.features = features
        self.labels = labels
        self.width = width
    }

    public var count: Int { labels.count }
}

/// Trains a DenseHead with mini-batch Adam; deterministic for a given seed.
public enum HeadTrainer {
    public struct Result: Sendable {
        public var head: DenseHead
        public var history: [EpochRecord]
        /// The epoch whose weights were kept (the last, or the best with early stopping).
        public var keptEpoch: Int
    }

    /// `shouldStop` is asked after each epoch: true ends training there (the result holds the
    /// epochs run; a cancelled caller discards it).
    public static func train(train: LabeledEmbeddings, validation: LabeledEmbeddings?, classes: Int,
                             options: TrainingOptions, shouldStop: (() -> Bool)? = nil,
                             onEpoch: ((EpochRecord) -> Void)? = nil) -> Result {
        // The head's products are small: one thread beats two spinning ones. Put back what was
        // set before (a server serving predictions may have chosen it), not "all cores".
        let previous = KernelThreads.forCurrentThread
        KernelThreads.setForCurrentThread(1)
        defer { KernelThreads.setForCurrentThread(previous) }
        var head = DenseHead(inputs: train.width, hidden: options.denseUnits, classes: classes, seed: options.seed)
        var adam = Adam(learningRate: options.learningRate)
        var counts = [Int](repeating: 0, count: classes)
        for l in train.labels { counts[l] += 1 }
        let classWeight: [Float] = (0..<classes).map { c in
            options.classWeights && counts[c] > 0 ? Float(train.count) / Float(classes * counts[c]) : 1
        }
        var history: [EpochRecord] = []
        var best: (loss: Double, head: DenseHead, epoch: Int)?
        var order = Array(0..<train.count)
        let width = train.width

        for epoch in 1...max(1, options.epochs) {
            var shuffler = SeededGenerator(seed: options.seed, stream: "shuffle:\(epoch)")
            order.shuffle(using: &shuffler)
            var dropout = SeededGenerator(seed: options.seed, stream: "dropout:\(epoch)")
            var lossSum = 0.0
            var start = 0
            while start < order.count {
                let batch = Array(order[start..<min(start + options.batchSize, order.count)])
                var x = [Float](repeating: 0, count: batch.count * width)
                for (r, i) in batch.enumerated() {
                    for k in 0..<width { x[r * width + k] = train.features[i * width + k] }
                }
                let labels = batch.map { train.labels[$0] }
                var mask: [Float]?
                if options.dropout > 0 {
                    let keep = 1 - options.dropout
                    mask = (0..<(batch.count * options.denseUnits)).map { _ in dropout.unit() < Double(keep) ? 1 / keep : 0 }
                }
                let g = head.gradients(x, labels: labels, weights: labels.map { classWeight[$0] }, dropoutMask: mask)
                lossSum += Double(g.loss) * Double(batch.count)
                adam.beginStep()
                adam.update(&head.w1, gradient: g.w1, slot: 0)
                adam.update(&head.b1, gradient: g.b1, slot: 1)
                adam.update(&head.w2, gradient: g.w2, slot: 2)
                start += batch.count
            }
            // Loss over the epoch's batches (as Keras reports it); accuracy of the head at epoch end.
            let trainEval = evaluate(head, train)
            var record = EpochRecord(epoch: epoch, trainLoss: lossSum / Double(train.count),
                                     trainAccuracy: trainEval.accuracy, valLoss: nil, valAccuracy: nil)
            if let validation, validation.count > 0 {
                let v = evaluate(head, validation)
                record.valLoss = v.loss
                record.valAccuracy = v.accuracy
            }
            history.append(record)
            onEpoch?(record)
            if shouldStop?() == true { break }
            if options.earlyStoppingPatience > 0, let valLoss = record.valLoss {
                if best == nil || valLoss < best!.loss { best = (valLoss, head, epoch) }
                if epoch - best!.epoch >= options.earlyStoppingPatience { break }
            }
        }
        if let best { return Result(head: best.head, history: history, keptEpoch: best.epoch) }
        return Result(head: head, history: history, keptEpoch: history.count)
    }

    /// Mean cross-entropy and accuracy of `head` on `data`.
    public static func evaluate(_ head: DenseHead, _ data: LabeledEmbeddings) -> (loss: Double, accuracy: Double) {
        guard data.count > 0 else { return (0, 0) }
        // The batched product, as training steps use: the epochs' validation losses (and so early
        // stopping) stay what they were before predictions moved to `RowProduct`.
        let p = head.forward(data.features, rows: data.count).probabilities
        var loss = 0.0, correct = 0
        for r in 0..<data.count {
            let row = p[(r * head.classes)..<((r + 1) * head.classes)]
            loss -= log(Double(max(row[r * head.classes + data.labels[r]], 1e-12)))
            if Argmax.of(row)! - r * head.classes == data.labels[r] { correct += 1 }
        }
        return (loss / Double(data.count), Double(correct) / Double(data.count))
    }
}
