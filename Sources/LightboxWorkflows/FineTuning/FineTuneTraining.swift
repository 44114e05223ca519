import Foundation
import LightboxCore
import LightboxData
import LightboxHead
import LightboxImaging
import LightboxModels

/// Fine-tuning's settings besides epochs, batch size and seed (which `TrainingOptions` holds).
public struct FineTuneOptions: Sendable, Equatable {
    /// Members trained with different seeds; their probabilities are averaged.
    public var ensemble = 3
    /// Feature modules trained, counted from the end (5: features.14-18).
    public var unfreeze = 5
    public var backboneRate: Float = 3e-4
    public var headRate: Float = 1e-3
    public var weightDecay: Float = 0.01
    public var dropout: Float = 0.2
    public static let defaultEpochs = 6

    public init() {}

    /// The first trained module (1-18).
    public var firstModule: Int { 19 - unfreeze }
}

/// Trains a fine-tuned ensemble on a patient-level split: every training image is decoded once
/// (kept as 8-bit squares), then in every epoch of every member freshly augmented, run through
/// the frozen modules and used for one optimiser step of the member's trained modules and head.
/// Validation and test images go through the frozen modules once.
enum FineTuneTraining {
    struct Result {
        var model: FineTunedModel
        /// Per epoch, the members' mean training loss and accuracy and validation loss and accuracy.
        var history: [EpochRecord]
        var testProbabilities: [Float]
        /// The ensemble's probabilities on the validation split (where the operating point is chosen).
        var validationProbabilities: [Float]
        var validation: (loss: Double, accuracy: Double)?
    }

    static func train(_ split: DatasetSplit, classes: [String], config: TrainingConfiguration, reporter: Reporter,
                      checkpoint: () throws -> Void) throws -> Result {
        let options = config.fineTune, training = config.training
        let weights = try PretrainedMobileNetV2.load()
        let preprocessor = Preprocessor(policy: config.resize, equalization: config.equalization), decoder = ImageDecoder()
        let frozen = try FineTunedModel.frozenNetwork(weights: weights, firstModule: options.firstModule)
        let label = { (image: LabeledImage) in classes.firstIndex(of: image.label)! }

        reporter.note("fine-tuning: features.\(options.firstModule)-18 and a linear head, \(options.ensemble) member(s), \(training.epochs) epochs")
        let squares = try Parallel.map(split.train.count) { i in
            Swift.Result<Square, Error> { Square(preprocessor.resized(try decoder.decode(file: split.train[i].path, reduceFor: preprocessor.decodeTarget))) }
        }.map { try $0.get() }
        try checkpoint()
        let validationFrozen = try frozenFeatures(split.validation.map(\.path), frozen: frozen, preprocessor: preprocessor, decoder: decoder)
        let testFrozen = try frozenFeatures(split.test.map(\.path), frozen: frozen, preprocessor: preprocessor, decoder: decoder)

        let labels = split.train.map(label)
        let counts = classes.indices.map { c in labels.filter { $0 == c }.count }
        let classWeights = counts.map { Float(labels.count) / Float(classes.count * max($0, 1)) }
        let stepsPerEpoch = (labels.count + training.batchSize - 1) / training.batchSize
        let total = training.epochs * stepsPerEpoch
        let per = preprocessor.valuesPerImage

        var members: [FineTuneMember] = []
        var sums = [EpochRecord](repeating: EpochRecord(epoch: 0, trainLoss: 0, trainAccuracy: 0), count: training.epochs)
        for m in 0..<options.ensemble {
            let seed = training.seed &+ UInt64(m)
            let member = try FineTuneMember(weights: weights, firstModule: options.firstModule, classes: classes.count, seed: seed)
            var step = 0
            for epoch in 0..<training.epochs {
                var order = Array(labels.indices)
                var shuffler = SeededGenerator(seed: seed, stream: "finetune-order:\(epoch)")
                order.shuffle(using: &shuffler)
                var lossSum = 0.0, correct = 0
                for start in stride(from: 0, to: order.count, by: training.batchSize) {
                    try checkpoint()
                    let batch = Array(order[start..<min(start + training.batchSize, order.count)])
                    var input = [Float](repeating: 0, count: batch.count * per)
                    input.withUnsafeMutableBufferPointer { buffer in
                        let base = buffer.baseAddress!
                        Parallel.forEach(batch.count) { k in
                            var g = SeededGenerator(seed: seed, stream: "finetune-augment:\(epoch):\(batch[k])")
                            let draw = FineTuneAugmentation(generator: &g)
                            preprocessor.writeNormalized(draw.apply(to: squares[batch[k]].image), to: base + k * per)
                        }
                    }
                    let features = try input.withUnsafeBufferPointer {
                        try frozen.forward($0.baseAddress!, batch: batch.count, outputs: .featureMap)
                    }.featureMap!
                    var dropout = SeededGenerator(seed: seed, stream: "finetune-dropout:\(step)")
                    let keep = 1 - options.dropout
                    let mask = options.dropout > 0
                        ? (0..<(batch.count * member.classifier.inputs)).map { _ in dropout.unit() < Double(keep) ? 1 / keep : 0 } : nil
                    let outcome = member.train(frozen: features, batch: batch.count, labels: batch.map { labels[$0] },
                                               classWeights: classWeights,
                                               backboneRate: CosineSchedule.rate(base: options.backboneRate, step: step, total: total),
                                               headRate: CosineSchedule.rate(base: options.headRate, step: step, total: total),
                                               dropoutMask: mask)
                    lossSum += Double(outcome.loss) * Double(batch.count)
                    correct += outcome.correct
                    step += 1
                }
                var record = EpochRecord(epoch: epoch + 1, trainLoss: lossSum / Double(labels.count),
                                         trainAccuracy: Double(correct) / Double(labels.count))
                if !split.validation.isEmpty {
                    let p = member.probabilities(frozen: validationFrozen, batch: split.validation.count)
                    let v = lossAndAccuracy(p, labels: split.validation.map(label), classes: classes.count)
                    record.valLoss = v.loss
                    record.valAccuracy = v.accuracy
                }
                reporter.epoch(record, of: training.epochs)
                reporter.progress("fine-tuning member \(m + 1) of \(options.ensemble)", done: epoch + 1, total: training.epochs)
                sums[epoch].trainLoss += record.trainLoss / Double(options.ensemble)
                sums[epoch].trainAccuracy += record.trainAccuracy / Double(options.ensemble)
                if let l = record.valLoss, let a = record.valAccuracy {
                    sums[epoch].valLoss = (sums[epoch].valLoss ?? 0) + l / Double(options.ensemble)
                    sums[epoch].valAccuracy = (sums[epoch].valAccuracy ?? 0) + a / Double(options.ensemble)
                }
                sums[epoch].epoch = epoch + 1
            }
            members.append(member)
        }
        let model = FineTunedModel(frozen: frozen, members: members, preprocessor: preprocessor, decoder: decoder)
        let validationProbabilities = split.validation.isEmpty ? []
            : model.probabilities(frozen: validationFrozen, batch: split.validation.count)
        let validation = split.validation.isEmpty ? nil
            : lossAndAccuracy(validationProbabilities, labels: split.validation.map(label), classes: classes.count)
        return Result(model: model, history: sums, testProbabilities: model.probabilities(frozen: testFrozen, batch: split.test.count),
                      validationProbabilities: validationProbabilities, validation: validation)
    }

    /// A training picture decoded and resized once, kept in 8 bits (a quarter of the floats'
    /// memory; the augmentation resamples it every epoch anyway).
    struct Square: Sendable {
        let width: Int, height: Int, values: [UInt8]
        init(_ image: RGBImage) {
            width = image.width
            height = image.height
            values = image.pixels.map { UInt8(min(max($0.rounded(), 0), 255)) }
        }
        var image: RGBImage { RGBImage(width: width, height: height, pixels: values.map(Float.init)) }
    }

    /// The frozen modules' output for files that must all decode (they already did once).
    static func frozenFeatures(_ paths: [String], frozen: GraphNetwork, preprocessor: Preprocessor, decoder: ImageDecoder) throws -> [Float] {
        let embedder = ImageEmbedder(network: frozen, preprocessor: preprocessor, decoder: decoder)
        var features: [Float] = []
        for start in stride(from: 0, to: paths.count, by: 16) {
            let pass = try embedder.forward(Array(paths[start..<min(start + 16, paths.count)]), outputs: .featureMap)
            if let failure = pass.failures.first { throw failure }
            features += pass.output!.featureMap!
        }
        return features
    }

    /// Unweighted mean cross-entropy and accuracy of probabilities `[rows, classes]`.
    static func lossAndAccuracy(_ p: [Float], labels: [Int], classes: Int) -> (loss: Double, accuracy: Double) {
        var loss = 0.0, correct = 0
        for (r, y) in labels.enumerated() {
            let row = Array(p[(r * classes)..<((r + 1) * classes)])
            loss -= log(max(Double(row[y]), 1e-12))
            if Argmax.of(row) == y { correct += 1 }
        }
        return (loss / Double(max(labels.count, 1)), Double(correct) / Double(max(labels.count, 1)))
    }
}
