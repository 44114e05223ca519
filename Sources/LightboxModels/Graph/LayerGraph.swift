import LightboxCore
import LightboxKernels

/// A feed-forward convolutional network as data: nodes in execution order, each reading the
/// outputs of earlier nodes (or the image). Batch norm is folded and activations fused into
/// the convolutions before a graph is built, so three kinds of node are enough for
/// MobileNet-style networks, whether built from Lightbox's own table (MobileNetV2) or read
/// from another format (a Teachable Machine export). `GraphNetwork` is the one executor.
public struct LayerGraph: Sendable {
    public enum Operation: Sendable {
        /// `weights` in torch's OIHW layout (per group), `bias` per output channel. With
        /// `spec.accumulate` the node has a second input, added before the activation (a fused residual).
        case convolution(ConvolutionSpec, weights: [Float], bias: [Float])
        /// Element-wise sum of the inputs.
        case add
        /// min(max(x, 0), 6) or max(x, 0), for activations that could not be fused.
        case activation(ConvolutionSpec.Activation)
    }

    public struct Node: Sendable {
        public var name: String
        public var operation: Operation
        /// Indices of earlier nodes; `LayerGraph.image` for the input image.
        public var inputs: [Int]
        public var height: Int, width: Int, channels: Int
    }

    public static let image = -1

    public var inputSize: Int
    public var nodes: [Node] = []
    /// The node whose output is the last feature map (pooled into the embedding).
    public var output: Int { nodes.count - 1 }

    /// The most values one image's input and node outputs may hold together (1 GiB of float32,
    /// far above MobileNetV2's at 224): what `GraphNetwork` allocates a thread is at most this,
    /// so a graph from a hostile file fails here, not on a huge allocation.
    public static let maxActivationValues = 1 << 28
    /// The input's and the nodes' outputs' values for one image, as `append` counts them.
    public private(set) var activationValues = 0

    public init(inputSize: Int) {
        self.inputSize = inputSize
    }

    /// Height, width and channels of a node's output (or of the image).
    public func shape(_ index: Int) -> (height: Int, width: Int, channels: Int) {
        index == Self.image ? (inputSize, inputSize, 3) : (nodes[index].height, nodes[index].width, nodes[index].channels)
    }

    /// Appends a node, computing its output shape; returns its index.
    @discardableResult
    public mutating func append(_ name: String, _ operation: Operation, inputs: [Int]) throws -> Int {
        guard !inputs.isEmpty, inputs.allSatisfy({ $0 == Self.image || ($0 >= 0 && $0 < nodes.count) }) else {
            throw WeightsError("layer '\(name)': inputs \(inputs) are not earlier layers")
        }
        if nodes.isEmpty { activationValues = try Self.values(inputSize, inputSize, 3, adding: 0, layer: name) }
        let first = shape(inputs[0])
        var node = Node(name: name, operation: operation, inputs: inputs, height: first.height, width: first.width,
                        channels: first.channels)
        switch operation {
        case .convolution(let spec, let weights, let bias):
            guard spec.inputChannels == first.channels else {
                throw WeightsError("layer '\(name)': expects \(spec.inputChannels) input channels, gets \(first.channels)")
            }
            try Self.check(spec, weights: weights.count, bias: bias.count, layer: name)
            node.height = spec.outputSize(first.height)
            node.width = spec.outputSize(first.width)
            node.channels = spec.outputChannels
            guard node.height > 0, node.width > 0 else { throw WeightsError("layer '\(name)': output would be empty") }
            guard inputs.count == (spec.accumulate ? 2 : 1) else {
                throw WeightsError("layer '\(name)': a convolution takes one input (two when it adds a residual)")
            }
            if spec.accumulate, shape(inputs[1]) != (node.height, node.width, node.channels) {
                throw WeightsError("layer '\(name)': the residual's shape \(shape(inputs[1])) differs from the output's")
            }
        case .add:
            for i in inputs where shape(i) != first {
                throw WeightsError("layer '\(name)': adds tensors of shapes \(first) and \(shape(i))")
            }
        case .activation:
            break
        }
        activationValues = try Self.values(node.height, node.width, node.channels, adding: activationValues, layer: name)
        nodes.append(node)
        return nodes.count - 1
    }

    /// Refuses a convolution no kernel could run: a stride, kernel or channel count below 1,
    /// negative padding, groups that do not divide the channels, weights or bias of another
    /// size, and sizes whose arithmetic would overflow (so `outputSize` cannot trap).
    static func check(_ spec: ConvolutionSpec, weights: Int, bias: Int, layer name: String) throws {
        let end = spec.paddingEnd ?? spec.padding
        guard spec.stride >= 1, spec.kernel >= 1, spec.padding >= 0, end >= 0, spec.inputChannels >= 1, spec.outputChannels >= 1,
              spec.groups >= 1, spec.inputChannels % spec.groups == 0, spec.outputChannels % spec.groups == 0,
              spec.kernel <= 1 << 16, spec.stride <= 1 << 16, spec.padding <= 1 << 16, end <= 1 << 16 else {
            throw WeightsError("layer '\(name)': impossible convolution (kernel \(spec.kernel), stride \(spec.stride), padding \(spec.padding)/\(end), channels \(spec.inputChannels)->\(spec.outputChannels), groups \(spec.groups))")
        }
        let expected = ShapeMath.elementCount([spec.outputChannels, spec.inputChannels / spec.groups, spec.kernel, spec.kernel])
        guard weights == expected, bias == spec.outputChannels else {
            throw WeightsError("layer '\(name)': \(weights) weights and \(bias) biases do not fit the convolution (\(expected.map(String.init) ?? "too many") and \(spec.outputChannels))")
        }
    }

    /// `total` plus height x width x channels, refused past `maxActivationValues`.
    private static func values(_ height: Int, _ width: Int, _ channels: Int, adding total: Int, layer name: String) throws -> Int {
        guard let count = ShapeMath.elementCount([height, width, channels], limit: maxActivationValues),
              count <= maxActivationValues - total else {
            throw WeightsError("layer '\(name)': the network's activations for one image would exceed \(maxActivationValues) values (\(maxActivationValues >> 18) MiB)")
        }
        return total + count
    }

    /// The same network with each `add` of a convolution's output (used nowhere else, no
    /// activation) and another tensor folded into that convolution as an accumulating one
    /// (oneDNN's sum post-op): one pass over the memory instead of two.
    public func fusingResidualAdds() throws -> LayerGraph {
        var uses = [Int](repeating: 0, count: nodes.count)
        for node in nodes { for j in node.inputs where j >= 0 { uses[j] += 1 } }
        var fusedConvolution: [Int: Int] = [:]  // add -> the convolution it absorbs
        for (k, node) in nodes.enumerated() {
            guard case .add = node.operation, node.inputs.count == 2 else { continue }
            fusedConvolution[k] = node.inputs.first { c in
                guard c >= 0, uses[c] == 1, case .convolution(let spec, _, _) = nodes[c].operation else { return false }
                return spec.activation == .none && !spec.accumulate
            }
        }
        let absorbed = Set(fusedConvolution.values)
        var graph = LayerGraph(inputSize: inputSize)
        var index = [Int](repeating: Self.image, count: nodes.count)
        func mapped(_ j: Int) -> Int { j == Self.image ? Self.image : index[j] }
        for (k, node) in nodes.enumerated() where !absorbed.contains(k) {
            if let c = fusedConvolution[k], case .convolution(var spec, let weights, let bias) = nodes[c].operation {
                spec.accumulate = true
                let residual = node.inputs[0] == c ? node.inputs[1] : node.inputs[0]
                index[k] = try graph.append(node.name, .convolution(spec, weights: weights, bias: bias),
                                            inputs: [mapped(nodes[c].inputs[0]), mapped(residual)])
            } else {
                index[k] = try graph.append(node.name, node.operation, inputs: node.inputs.map(mapped))
            }
        }
        return graph
    }
}

/// Runs a LayerGraph on oneDNN (convolutions) and Swift loops (sums, activations), with the
/// same use of the cores as MobileNetV2.
public final class GraphNetwork: FeatureExtractor, @unchecked Sendable {
    public let graph: LayerGraph
    private var runner: ParallelForward!

    /// What the pointwise convolutions compute in.
    public let arithmetic: Arithmetic

    /// Runs `graph` with its residual additions fused into the convolutions before them, its
    /// pointwise convolutions in `arithmetic`.
    public init(graph: LayerGraph, parallelism: Int, arithmetic: Arithmetic = .fp32) throws {
        guard !graph.nodes.isEmpty else { throw WeightsError("empty network") }
        self.graph = try graph.fusingResidualAdds()
        self.arithmetic = arithmetic
        runner = try ParallelForward(parallelism: parallelism) { [unowned self] in
            try GraphPlan(graph: self.graph, arithmetic: self.arithmetic)
        }
    }

    public var embeddingChannels: Int { graph.nodes[graph.output].channels }
    public var inputSize: Int { graph.inputSize }
    /// The threads a batch is split over (given at `init`).
    public var parallelism: Int { runner.parallelism }

    public func forward(_ input: UnsafePointer<Float>, batch: Int, outputs: BackboneOutputs) throws -> BackboneResult {
        guard !outputs.contains(.imageNetLogits) else { throw WeightsError("this network has no ImageNet classifier") }
        let last = graph.nodes[graph.output]
        let (embeddings, featureMap) = try runner.run(input, batch: batch, valuesPerImage: inputSize * inputSize * 3,
                                                      positions: last.height * last.width, channels: last.channels,
                                                      wantFeatures: outputs.contains(.featureMap))
        return BackboneResult(batch: batch, embeddings: embeddings, featureMap: featureMap,
                              featureMapShape: [batch, last.height, last.width, last.channels], logits: nil)
    }
}

/// One image's buffers and primitives for a LayerGraph. Buffers are reused once no later
/// node reads them.
final class GraphPlan: SingleImagePlan {
    let input: AlignedBuffer
    private var buffers: [AlignedBuffer] = []
    private var bufferOf: [Int] = []  // node -> index in `buffers`
    private enum Step {
        case convolution(DNNLConvolution)
        case copy(out: UnsafeMutablePointer<Float>, in: UnsafeMutablePointer<Float>, count: Int)
        case add(out: UnsafeMutablePointer<Float>, ins: [UnsafeMutablePointer<Float>], count: Int)
        case activation(ConvolutionSpec.Activation, out: UnsafeMutablePointer<Float>, in: UnsafeMutablePointer<Float>, count: Int)
    }
    private var steps: [Step] = []
    private var output: UnsafeMutablePointer<Float>!

    init(graph: LayerGraph, arithmetic: Arithmetic) throws {
        input = AlignedBuffer(count: graph.inputSize * graph.inputSize * 3)
        var lastUse = [Int](repeating: -1, count: graph.nodes.count)
        for (i, node) in graph.nodes.enumerated() { for j in node.inputs where j >= 0 { lastUse[j] = i } }
        var free: [Int] = []
        func pointer(_ index: Int) -> UnsafeMutablePointer<Float> {
            index == LayerGraph.image ? input.pointer : buffers[bufferOf[index]].pointer
        }
        for (i, node) in graph.nodes.enumerated() {
            let count = node.height * node.width * node.channels
            // An accumulating convolution adds into its residual's buffer when nothing later
            // reads the residual (always, in MobileNetV2); else into a copy of it.
            var inPlace: Int?
            if case .convolution(let spec, _, _) = node.operation, spec.accumulate, node.inputs[1] >= 0,
               lastUse[node.inputs[1]] == i, node.inputs[1] != graph.output, node.inputs[0] != node.inputs[1] {
                inPlace = node.inputs[1]
            }
            if let residual = inPlace {
                bufferOf.append(bufferOf[residual])
            } else if let k = free.firstIndex(where: { buffers[$0].count >= count }) {
                bufferOf.append(free.remove(at: k))
            } else {
                buffers.append(AlignedBuffer(count: count))
                bufferOf.append(buffers.count - 1)
            }
            let out = pointer(i)
            switch node.operation {
            case .convolution(let spec, let weights, let bias):
                if spec.accumulate && inPlace == nil { steps.append(.copy(out: out, in: pointer(node.inputs[1]), count: count)) }
                let source = graph.shape(node.inputs[0])
                steps.append(.convolution(try DNNLConvolution(spec: spec, weights: weights, bias: bias, batch: 1,
                                                              inputHeight: source.height, inputWidth: source.width,
                                                              source: pointer(node.inputs[0]), destination: out,
                                                              arithmetic: arithmetic)))
            case .add:
                steps.append(.add(out: out, ins: node.inputs.map(pointer), count: count))
            case .activation(let kind):
                steps.append(.activation(kind, out: out, in: pointer(node.inputs[0]), count: count))
            }
            for j in Set(node.inputs) where j >= 0 && lastUse[j] == i && j != graph.output && j != inPlace { free.append(bufferOf[j]) }
        }
        output = pointer(graph.output)
    }

    var featureMap: UnsafePointer<Float> { UnsafePointer(output!) }

    func run(on stream: DNNLStream) throws {
        for step in steps {
            switch step {
            case .convolution(let c):
                try c.run(on: stream)
            case .copy(let out, let source, let count):
                out.update(from: source, count: count)
            case .add(let out, let ins, let count):
                out.update(from: ins[0], count: count)
                for other in ins.dropFirst() { for k in 0..<count { out[k] += other[k] } }
            case .activation(let kind, let out, let source, let count):
                let top: Float = kind == .relu6 ? 6 : .greatestFiniteMagnitude
                for k in 0..<count { out[k] = kind == .none ? source[k] : min(max(source[k], 0), top) }
            }
        }
    }
}
