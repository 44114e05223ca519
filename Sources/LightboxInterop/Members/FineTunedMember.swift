import Foundation
import LightboxCore
import LightboxHead
import LightboxModels

/// The fine-tuning method's member: MobileNetV2's feature modules from `firstModule` on,
/// trained (batch norm in inference mode), global average pooling and a linear head, on the
/// feature map of the frozen modules before them.
public final class FineTunedMember: ModelMember, @unchecked Sendable {
    public let tail: TrainableTail
    public let classifier: LinearClassifier
    public let firstModule: Int

    public init(tail: TrainableTail, classifier: LinearClassifier, firstModule: Int) {
        self.tail = tail
        self.classifier = classifier
        self.firstModule = firstModule
    }

    /// The member saved in `store`: the trained modules' tensors (torch names) and `head.weight`, `head.bias`.
    public convenience init(store: NamedTensors, firstModule: Int, classes: Int) throws {
        let tail = try TrainableTail(weights: store, firstModule: firstModule)
        let inputs = tail.outputChannels
        self.init(tail: tail, classifier: LinearClassifier(weight: try store.tensor("head.weight", shape: [classes, inputs]).values,
                                                           bias: try store.tensor("head.bias", shape: [classes]).values,
                                                           inputs: inputs, classes: classes),
                  firstModule: firstModule)
    }

    public var trainingMethod: String { "finetune" }
    public var classes: Int { classifier.classes }
    public var cut: FrozenCut { .mobileNetV2(throughModule: tail.cut.frozen.upperBound) }
    public var reads: BackboneOutputs { .featureMap }

    /// Runs `chunk` pictures at a time through the trained modules: memory stays bounded
    /// however many pictures are asked.
    public func probabilities(frozen: BackboneResult) throws -> [Float] {
        guard let features = frozen.featureMap else { throw WeightsError("a fine-tuned member needs the frozen modules' feature map") }
        let batch = frozen.batch, chunk = 32
        guard batch > chunk else { return try probabilitiesOfOneChunk(features, batch: batch) }
        let per = features.count / batch
        return try stride(from: 0, to: batch, by: chunk).flatMap { start -> [Float] in
            let n = min(chunk, batch - start)
            return try probabilitiesOfOneChunk(Array(features[(start * per)..<((start + n) * per)]), batch: n)
        }
    }

    func probabilitiesOfOneChunk(_ features: [Float], batch: Int) throws -> [Float] {
        let (featureMap, trace) = try tail.forward(features, batch: batch, training: false)
        let pooled = LinearClassifier.pool(featureMap, batch: batch, positions: trace.outputSide * trace.outputSide,
                                           channels: classifier.inputs)
        let logits = classifier.logits(pooled, rows: batch)
        return (0..<batch).flatMap { Softmax.apply(Array(logits[($0 * classes)..<(($0 + 1) * classes)])) }
    }

    public func gradCAM(frozen: BackboneResult, index: Int, target: Int) throws -> (cam: [Float], side: Int) {
        let (map, _, _) = try frozenFeatureMap(frozen, index: index)
        let (own, trace) = try tail.forward(map, batch: 1, training: false)
        let side = trace.outputSide
        let pooled = LinearClassifier.pool(own, batch: 1, positions: side * side, channels: classifier.inputs)
        return (Heatmap.gradCAM(gradient: classifier.gradientOfProbability(pooled, target: target), featureMap: own, side: side), side)
    }

    public var trainedModules: (modules: ClosedRange<Int>, weights: NamedTensors)? {
        (tail.cut.trained, NamedTensors(tail.tensors, source: "fine-tuned member"))
    }

    public var head: PooledHead { .linear(classifier) }

    public var tensors: [String: Tensor] {
        var all = tail.tensors
        all["head.weight"] = Tensor(shape: [classifier.classes, classifier.inputs], values: classifier.weight)
        all["head.bias"] = Tensor(shape: [classifier.classes], values: classifier.bias)
        return all
    }
}
