import LightboxKernels

/// Turns a Keras functional backbone (MobileNet-style: ZeroPadding2D, Conv2D,
/// DepthwiseConv2D, BatchNormalization, ReLU, Add) into a LayerGraph, folding batch norm
/// (with the layer's epsilon) into the convolution before it and fusing ReLU / ReLU6.
/// `KerasTopologyCheck` checks every layer first (attributes, shapes, weights); this walks
/// what it returns, one method per layer kind, and reads no attribute itself.
struct KerasGraphBuilder {
    typealias Layer = TFJSLayersModel.Layer
    typealias Checked = KerasTopologyCheck.Checked

    /// What a layer name stands for while building.
    private enum Value {
        case node(Int)
        /// A ZeroPadding2D of a node: the convolution that reads it pads (its checked spec says how much).
        case padded(source: Int)
    }

    private let model: TFJSLayersModel
    /// How many layers read each layer (batch norm and activations fold only into a convolution read once).
    private let consumers: [String: Int]
    private var graph: LayerGraph?
    private var values: [String: Value] = [:]

    static func build(_ model: TFJSLayersModel) throws -> LayerGraph {
        let checked = try KerasTopologyCheck.check(model)
        var builder = KerasGraphBuilder(model: model)
        for (layer, kind) in zip(model.backbone, checked) { try builder.add(layer, kind) }
        guard let g = builder.graph, case .node(let last)? = builder.values[model.backboneOutput], last == g.output else {
            throw WeightsError("\(model.topologyFile): the backbone's output '\(KerasTopologyCheck.printable(model.backboneOutput))' is not its last layer")
        }
        return g
    }

    private init(model: TFJSLayersModel) {
        self.model = model
        consumers = model.backbone.reduce(into: [:]) { counts, layer in for i in layer.inbound { counts[i, default: 0] += 1 } }
    }

    private mutating func add(_ layer: Layer, _ kind: Checked) throws {
        if case .input(let size) = kind {
            graph = LayerGraph(inputSize: size)
            values[layer.name] = .node(LayerGraph.image)
            return
        }
        guard var g = graph else { throw fail(layer, "comes before the InputLayer") }
        let value: Value
        do {
            switch kind {
            case .input: return
            case .zeroPadding: value = .padded(source: try node(layer))
            case .convolution(let spec, let kernel, let bias): value = .node(try convolution(layer, spec, kernel, bias, into: &g))
            case .batchNormalization(let epsilon, let gamma, let beta):
                value = .node(try batchNormalization(layer, epsilon: epsilon, gamma: gamma, beta: beta, into: &g))
            case .activation(let activation): value = .node(try self.activation(layer, activation, into: &g))
            case .add: value = .node(try g.append(layer.name, .add, inputs: try layer.inbound.indices.map { try node(layer, $0) }))
            }
        } catch let error as WeightsError where !error.description.hasPrefix(model.topologyFile) {
            throw fail(layer, error.description)  // the graph's own checks, named as the layer of this file
        }
        values[layer.name] = value
        graph = g
    }

    // MARK: layer kinds

    private func convolution(_ layer: Layer, _ spec: ConvolutionSpec, _ kernel: String, _ bias: String?,
                             into g: inout LayerGraph) throws -> Int {
        let k = spec.kernel, inC = spec.inputChannels, outC = spec.outputChannels
        let depthwise = kernel == "depthwise_kernel"
        let oihw = ConvolutionWeights.oihw(fromHWIO: try weight(layer, kernel, [k, k, inC, depthwise ? 1 : outC]), kernel: k,
                                           inputs: inC, outputs: depthwise ? 1 : outC)
        let b = try bias.map { try weight(layer, $0, [outC]) } ?? [Float](repeating: 0, count: outC)
        return try g.append(layer.name, .convolution(spec, weights: oihw, bias: b), inputs: [node(layer, acceptingPadding: true)])
    }

    /// Folded into the convolution it follows.
    private func batchNormalization(_ layer: Layer, epsilon: Float, gamma: Bool, beta: Bool, into g: inout LayerGraph) throws -> Int {
        let n = try node(layer)
        guard n >= 0, case .convolution(var spec, var w, var b) = g.nodes[n].operation, spec.activation == .none,
              consumers[layer.inbound[0]] == 1 else {
            throw fail(layer, "batch normalisation must directly follow a convolution used nowhere else")
        }
        let ch = spec.outputChannels
        ConvolutionWeights.foldBatchNorm(weights: &w, bias: &b,
                                         gamma: gamma ? try weight(layer, "gamma", [ch]) : [Float](repeating: 1, count: ch),
                                         beta: beta ? try weight(layer, "beta", [ch]) : [Float](repeating: 0, count: ch),
                                         mean: try weight(layer, "moving_mean", [ch]),
                                         variance: try weight(layer, "moving_variance", [ch]), epsilon: epsilon)
        spec.activation = .none
        g.nodes[n].operation = .convolution(spec, weights: w, bias: b)
        return n
    }

    /// Fused into the convolution it follows when that one is read only here; else a node of its own.
    private func activation(_ layer: Layer, _ kind: ConvolutionSpec.Activation, into g: inout LayerGraph) throws -> Int {
        let n = try node(layer)
        if n >= 0, case .convolution(var spec, let w, let b) = g.nodes[n].operation, spec.activation == .none,
           consumers[layer.inbound[0]] == 1 {
            spec.activation = kind
            g.nodes[n].operation = .convolution(spec, weights: w, bias: b)
            return n
        }
        return try g.append(layer.name, .activation(kind), inputs: [n])
    }

    // MARK: lookups

    private func fail(_ layer: Layer, _ why: String) -> WeightsError {
        WeightsError("\(model.topologyFile): layer '\(KerasTopologyCheck.printable(layer.name))' (\(KerasTopologyCheck.printable(layer.className))): \(why)")
    }

    /// The node input `k` is; a ZeroPadding2D's source only where the reader pads (a convolution).
    private func node(_ layer: Layer, _ k: Int = 0, acceptingPadding: Bool = false) throws -> Int {
        switch k < layer.inbound.count ? values[layer.inbound[k]] : nil {
        case .node(let n)?: return n
        case .padded(let n)? where acceptingPadding: return n
        case .padded?: throw fail(layer, "reads a ZeroPadding2D, which only a convolution may")
        case nil: throw fail(layer, "its input is not a known layer")
        }
    }

    private func weight(_ layer: Layer, _ param: String, _ shape: [Int]) throws -> [Float] {
        guard let t = model.weights["\(layer.name)/\(param)"] else { throw fail(layer, "weight '\(layer.name)/\(param)' missing") }
        guard t.shape == shape else { throw fail(layer, "weight '\(param)' has shape \(t.shape), expected \(shape)") }
        return t.values
    }
}
