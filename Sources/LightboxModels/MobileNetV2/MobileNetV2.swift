import LightboxCore
import Foundation
import LightboxKernels

/// What one forward pass should produce besides the embedding.
public struct BackboneOutputs: OptionSet, Sendable {
    public let rawValue: Int
    public init(rawValue: Int) { self.rawValue = rawValue }
    /// The last feature map, `[N, 7, 7, 1280]` (NHWC), for class-activation heatmaps.
    public static let featureMap = BackboneOutputs(rawValue: 1)
    /// ImageNet class scores (logits), `[N, 1000]`.
    public static let imageNetLogits = BackboneOutputs(rawValue: 2)
}

/// The result of a forward pass over a batch of `batch` images.
public struct BackboneResult: Sendable {
    public var batch: Int
    /// `[batch, embeddingChannels]`: the global average pool of the last feature map.
    public var embeddings: [Float]
    public var featureMap: [Float]?
    public var featureMapShape: [Int]  // [N, H, W, C]
    public var logits: [Float]?

    public init(batch: Int, embeddings: [Float], featureMap: [Float]? = nil, featureMapShape: [Int] = [], logits: [Float]? = nil) {
        self.batch = batch
        self.embeddings = embeddings
        self.featureMap = featureMap
        self.featureMapShape = featureMapShape
        self.logits = logits
    }
}

/// MobileNetV2: the layer graph of its table (`MobileNetV2Architecture.layerGraph`) with
/// batch norm folded, run by `GraphNetwork` on oneDNN, plus the ImageNet classifier on
/// oneDNN's sgemm when the weights have one. Cores are used as `ParallelForward` describes.
public final class MobileNetV2: @unchecked Sendable {
    public let architecture: MobileNetV2Architecture
    let network: GraphNetwork
    let classifierWeights: [Float]?
    let classifierBias: [Float]?
    /// Cores a forward pass may use.
    public let parallelism: Int

    public init(weights: NamedTensors, architecture: MobileNetV2Architecture = .init(),
                parallelism: Int, arithmetic: Arithmetic = .fp32) throws {
        self.architecture = architecture
        self.parallelism = max(1, parallelism)
        network = try GraphNetwork(graph: try architecture.layerGraph(weights: weights), parallelism: self.parallelism,
                                   arithmetic: arithmetic)
        let name = architecture.classifier
        if weights.tensors["\(name).weight"] != nil {
            classifierWeights = try weights.tensor("\(name).weight",
                                                   shape: [architecture.classes, architecture.embeddingChannels]).values
            classifierBias = try weights.tensor("\(name).bias", shape: [architecture.classes]).values
        } else {
            classifierWeights = nil
            classifierBias = nil
        }
    }

    public var embeddingChannels: Int { architecture.embeddingChannels }
    public var arithmetic: Arithmetic { network.arithmetic }
    public var inputSize: Int { architecture.inputSize }

    /// Runs the network on `batch` images already preprocessed into NHWC floats
    /// (`batch * inputSize * inputSize * 3` values).
    public func forward(_ input: UnsafePointer<Float>, batch: Int, outputs: BackboneOutputs = []) throws -> BackboneResult {
        var result = try network.forward(input, batch: batch, outputs: outputs.subtracting(.imageNetLogits))
        if outputs.contains(.imageNetLogits) {
            guard let w = classifierWeights, let b = classifierBias else {
                throw WeightsError("these weights have no ImageNet classifier")
            }
            let k = architecture.classes, c = embeddingChannels
            var logits = [Float](repeating: 0, count: batch * k)
            logits.withUnsafeMutableBufferPointer { out in
                BLAS.dense(input: result.embeddings, rows: batch, inputs: c, weights: w, bias: b, outputs: k, output: out.baseAddress!)
            }
            result.logits = logits
        }
        return result
    }
}
