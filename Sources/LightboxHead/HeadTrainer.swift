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

/// Trains a DenseHead with mini-batch Adam (Keras's) in the one training loop (`MemberRun`);
/// deterministic for a given seed.
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
                             onEpoch: ((EpochRecord) -> Void)? = nil) throws -> Result {
        // The head's products are small: one thread beats two spinning ones. Put back what was
        // set before (a server serving predictions may have chosen it), not "all cores".
        let previous = KernelThreads.forCurrentThread
        KernelThreads.setForCurrentThread(1)
        defer { KernelThreads.setForCurrentThread(previous) }
        let member = DenseHeadTraining(train: train, validation: validation, classes: classes, options: options)
        let run = MemberRun(member: member, epochs: options.epochs, batchSize: options.batchSize,
                            patience: options.earlyStoppingPatience)
        try run.runToEnd(workspace: ()) { record in
            onEpoch?(record)
            return shouldStop?() != true
        }
        return Result(head: run.best?.snapshot ?? member.head, history: run.records, keptEpoch: run.keptEpoch)
    }

    /// Mean cross-entropy and accuracy of `head` on `data`.
    public static func evaluate(_ head: DenseHead, _ data: LabeledEmbeddings) -> (loss: Double, accuracy: Double) {
        guard data.count > 0 else { return (0, 0) }
        let p = head.predict(data.features, rows: data.count)
        var loss = 0.0, correct = 0
        for r in 0..<data.count {
            let row = p[(r * head.classes)..<((r + 1) * head.classes)]
            loss -= log(Double(max(row[r * head.classes + data.labels[r]], 1e-12)))
            if Argmax.of(row)! - r * head.classes == data.labels[r] { correct += 1 }
        }
        return (loss / Double(data.count), Double(correct) / Double(data.count))
    }
}

/// The dense head as a member in training: Keras's Adam on the head's three tensors, the
/// epoch's order shuffled from the last one's, a dropout mask per batch from the epoch's stream.
final class DenseHeadTraining: TrainableMember {
    private(set) var head: DenseHead
    private var adam = Adam.keras
    private var dropout: SeededGenerator
    let train: LabeledEmbeddings, validation: LabeledEmbeddings?, options: TrainingOptions
    let classWeight: [Float]

    init(train: LabeledEmbeddings, validation: LabeledEmbeddings?, classes: Int, options: TrainingOptions) {
        head = DenseHead(inputs: train.width, hidden: options.denseUnits, classes: classes, seed: options.seed)
        self.train = train
        self.validation = validation
        self.options = options
        dropout = SeededGenerator(seed: options.seed, stream: "dropout:1")
        var counts = [Int](repeating: 0, count: classes)
        for l in train.labels { counts[l] += 1 }
        classWeight = (0..<classes).map { c in
            options.classWeights && counts[c] > 0 ? Float(train.count) / Float(classes * counts[c]) : 1
        }
    }

    var trainingRows: Int { train.count }

    func beginEpoch(_ epoch: Int, previousOrder: [Int]) -> [Int] {
        var order = previousOrder
        var shuffler = SeededGenerator(seed: options.seed, stream: "shuffle:\(epoch + 1)")
        order.shuffle(using: &shuffler)
        dropout = SeededGenerator(seed: options.seed, stream: "dropout:\(epoch + 1)")
        return order
    }

    func step(rows batch: [Int], epoch: Int, step: Int, totalSteps: Int, workspace: Void) -> MemberStep {
        let width = train.width
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
        adam.beginStep()
        adam.update("w1", &head.w1, gradient: g.w1, learningRate: options.learningRate)
        adam.update("b1", &head.b1, gradient: g.b1, learningRate: options.learningRate)
        adam.update("w2", &head.w2, gradient: g.w2, learningRate: options.learningRate)
        return MemberStep(loss: g.loss, correct: nil)
    }

    /// Accuracy of the head at the epoch's end (the loss is the epoch's batches', as Keras reports it).
    func endEpoch(workspace: Void) -> (trainAccuracy: Double?, validation: (loss: Double, accuracy: Double)?) {
        let validation = self.validation.flatMap { $0.count > 0 ? HeadTrainer.evaluate(head, $0) : nil }
        return (HeadTrainer.evaluate(head, train).accuracy, validation)
    }

    func snapshot() -> DenseHead { head }
}
