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
}

/// MobileNetV2 with batch norm folded, running on oneDNN convolutions and an OpenBLAS
/// classifier. Plans (primitives bound to buffers) are built per batch size and reused;
/// an instance runs one forward pass at a time.
/// Cores are used as `ParallelForward` describes.
public final class MobileNetV2: @unchecked Sendable {
    public let architecture: MobileNetV2Architecture
    let stem: FoldedConvolution
    let blocks: [[FoldedConvolution]]
    let head: FoldedConvolution
    let classifierWeights: [Float]?
    let classifierBias: [Float]?
    /// Cores a forward pass may use.
    public let parallelism: Int

    private var runner: ParallelForward!

    public init(weights: NamedTensors, architecture: MobileNetV2Architecture = .init(),
                parallelism: Int = KernelThreads.configured) throws {
        self.architecture = architecture
        self.parallelism = max(1, parallelism)
        let layers = architecture.layers
        stem = try FoldedConvolution(unit: layers.stem, from: weights)
        blocks = try layers.blocks.map { try $0.units.map { try FoldedConvolution(unit: $0, from: weights) } }
        head = try FoldedConvolution(unit: layers.head, from: weights)
        let name = architecture.classifier
        if weights.tensors["\(name).weight"] != nil {
            classifierWeights = try weights.tensor("\(name).weight",
                                                   shape: [architecture.classes, architecture.embeddingChannels]).values
            classifierBias = try weights.tensor("\(name).bias", shape: [architecture.classes]).values
        } else {
            classifierWeights = nil
            classifierBias = nil
        }
        runner = try ParallelForward(parallelism: self.parallelism) { [unowned self] in
            try ForwardPlan(network: self, batch: 1)
        }
    }

    public var embeddingChannels: Int { architecture.embeddingChannels }
    public var inputSize: Int { architecture.inputSize }

    /// Runs the network on `batch` images already preprocessed into NHWC floats
    /// (`batch * inputSize * inputSize * 3` values).
    public func forward(_ input: UnsafePointer<Float>, batch: Int, outputs: BackboneOutputs = []) throws -> BackboneResult {
        let c = embeddingChannels
        let side = architecture.featureMapSize
        let (embeddings, featureMap) = try runner.run(input, batch: batch, valuesPerImage: inputSize * inputSize * 3,
                                                      positions: side * side, channels: c,
                                                      wantFeatures: outputs.contains(.featureMap))
        var result = BackboneResult(batch: batch, embeddings: embeddings,
                                    featureMap: featureMap,
                                    featureMapShape: [batch, side, side, c], logits: nil)
        if outputs.contains(.imageNetLogits) {
            guard let w = classifierWeights, let b = classifierBias else {
                throw WeightsError("these weights have no ImageNet classifier")
            }
            let k = architecture.classes
            var logits = [Float](repeating: 0, count: batch * k)
            logits.withUnsafeMutableBufferPointer { out in
                BLAS.dense(input: embeddings, rows: batch, inputs: c, weights: w, bias: b, outputs: k, output: out.baseAddress!)
            }
            result.logits = logits
        }
        return result
    }
}

/// The primitives of one batch size, bound to three activation buffers:
/// a block reads its input from A, expands into B, filters into C and projects back
/// into A (adding to it for residual blocks), so the block's output is again in A.
final class ForwardPlan: SingleImagePlan {
    let input: AlignedBuffer
    private let a: AlignedBuffer, b: AlignedBuffer, c: AlignedBuffer
    private let steps: [DNNLConvolution]
    var featureMap: UnsafePointer<Float> { UnsafePointer(b.pointer) }

    init(network: MobileNetV2, batch: Int) throws {
        let size = network.inputSize
        // Sizes first: walk the network once to find each buffer's largest use.
        var h = size
        var maxA = 0, maxB = 0, maxC = 0
        h = network.stem.spec.outputSize(h)
        maxA = max(maxA, h * h * network.stem.spec.outputChannels)
        for block in network.blocks {
            for (i, unit) in block.enumerated() {
                let out = unit.spec.outputSize(h)
                let n = out * out * unit.spec.outputChannels
                if i == block.count - 1 { maxA = max(maxA, n) } else if unit.spec.groups > 1 { maxC = max(maxC, n) } else { maxB = max(maxB, n) }
                h = out
            }
        }
        maxB = max(maxB, h * h * network.head.spec.outputChannels)

        input = AlignedBuffer(count: batch * size * size * 3)
        a = AlignedBuffer(count: batch * maxA)
        b = AlignedBuffer(count: batch * maxB)
        c = AlignedBuffer(count: batch * maxC)

        // Measured: running the small late layers single-threaded inside a two-thread pass
        // is slower (140-200 against 206 img/s), so every step uses the caller's thread count.
        var steps: [DNNLConvolution] = []
        func add(_ conv: FoldedConvolution, _ from: AlignedBuffer, _ to: AlignedBuffer, _ h: inout Int) throws {
            let step = try DNNLConvolution(spec: conv.spec, weights: conv.weights, bias: conv.bias, batch: batch,
                                           inputHeight: h, inputWidth: h, source: from.pointer, destination: to.pointer)
            h = step.outputHeight
            steps.append(step)
        }
        h = size
        try add(network.stem, input, a, &h)
        for block in network.blocks {
            var source = a
            for (i, unit) in block.enumerated() {
                let destination = i == block.count - 1 ? a : (unit.spec.groups > 1 ? c : b)
                try add(unit, source, destination, &h)
                source = destination
            }
        }
        try add(network.head, a, b, &h)
        self.steps = steps
    }

    func run(on stream: DNNLStream) throws {
        for step in steps { try step.run(on: stream) }
    }
}
