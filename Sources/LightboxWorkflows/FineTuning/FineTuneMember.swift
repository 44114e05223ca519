import Foundation
import LightboxCore
import LightboxHead
import LightboxInterop
import LightboxModels

/// One fine-tuned network of an ensemble: MobileNetV2's trainable tail, the linear head and
/// their optimiser's state (torch's AdamW). It trains on, and predicts from, the frozen part's output (the NHWC
/// feature map of the module before the tail), which the caller computes once per image.
public final class FineTuneMember {
    public let tail: TrainableTail
    public private(set) var classifier: LinearClassifier
    /// The first trained module (what the frozen part's output feeds).
    public let firstModule: Int
    private var optimiser: Adam

    public init(tail: TrainableTail, classifier: LinearClassifier, firstModule: Int, weightDecay: Float = 0.01) {
        self.tail = tail
        self.classifier = classifier
        self.firstModule = firstModule
        optimiser = .torchAdamW(weightDecay: weightDecay)
    }

    /// The member as it stands, as a model's member (what a bundle saves and predictions run).
    public var trained: FineTunedMember { FineTunedMember(tail: tail, classifier: classifier, firstModule: firstModule) }

    /// What a bundle saves of this member.
    public var tensors: [String: Tensor] { trained.tensors }

    /// A member on `weights` from `firstModule`, its head drawn from `seed` as torch's
    /// `nn.Linear` initialises one (uniform in ±1/sqrt(inputs), weights and bias).
    public convenience init(weights: NamedTensors, firstModule: Int, classes: Int, seed: UInt64, arithmetic: Arithmetic = .fp32) throws {
        let tail = try TrainableTail(weights: weights, firstModule: firstModule)
        tail.arithmetic = arithmetic
        var generator = SeededGenerator(seed: seed, stream: "finetune-head")
        let inputs = tail.outputChannels, bound = 1 / Double(inputs).squareRoot()
        let draw = { (count: Int) in (0..<count).map { _ in Float(generator.uniform(-bound...bound)) } }
        let weight = draw(classes * inputs)
        self.init(tail: tail, classifier: LinearClassifier(weight: weight, bias: draw(classes), inputs: inputs, classes: classes),
                  firstModule: firstModule)
    }

    /// One optimiser step on `batch` frozen feature maps: forward with batch statistics, the
    /// class-weighted loss, backward, AdamW at the given rates. Returns the batch's loss.
    @discardableResult
    public func step(frozen: [Float], batch: Int, labels: [Int], classWeights: [Float], backboneRate: Float, headRate: Float,
                     dropoutMask: [Float]? = nil) throws -> Float {
        try train(frozen: frozen, batch: batch, labels: labels, classWeights: classWeights, backboneRate: backboneRate,
              headRate: headRate, dropoutMask: dropoutMask).loss
    }

    /// `step`, also counting the batch's images whose largest logit was their label's.
    public func train(frozen: [Float], batch: Int, labels: [Int], classWeights: [Float], backboneRate: Float, headRate: Float,
                      dropoutMask: [Float]? = nil) throws -> (loss: Float, correct: Int) {
        let (featureMap, trace) = try tail.forward(frozen, batch: batch, training: true)
        let result = classifier.step(featureMap: featureMap, batch: batch, positions: trace.outputSide * trace.outputSide,
                                     labels: labels, classWeights: classWeights, dropoutMask: dropoutMask)
        let gradients = try tail.backward(result.featureMapGradient, trace: trace)
        optimiser.beginStep()
        tail.updateParameters { name, values in
            optimiser.update(name, &values, gradient: gradients[name]!, learningRate: backboneRate)
        }
        optimiser.update("head.weight", &classifier.weight, gradient: result.weightGradient, learningRate: headRate)
        optimiser.update("head.bias", &classifier.bias, gradient: result.biasGradient, learningRate: headRate)
        let k = classifier.classes
        let correct = Argmax.rows(result.logits, columns: k).enumerated().filter { $0.element == labels[$0.offset] }.count
        return (result.loss, correct)
    }

    /// Class probabilities, `[batch, classes]`, with batch norm in inference mode, for `batch`
    /// frozen feature maps (the member's validation during training).
    public func probabilities(frozen: [Float], batch: Int) throws -> [Float] {
        try trained.probabilities(frozen: BackboneResult(batch: batch, embeddings: [], featureMap: frozen))
    }
}
