import LightboxKernels

/// Turns a Keras functional backbone (MobileNet-style: ZeroPadding2D, Conv2D,
/// DepthwiseConv2D, BatchNormalization, ReLU, Add) into a LayerGraph, folding batch norm
/// (with the layer's epsilon) into the convolution before it and fusing ReLU / ReLU6.
/// One method per layer kind; `build` walks the layers in order.
struct KerasGraphBuilder {
    typealias Layer = TFJSLayersModel.Layer

    /// What a layer name stands for while building.
    private enum Value {
        case node(Int)
        /// A ZeroPadding2D: the padding to give the convolution that reads it.
        case padded(source: Int, begin: Int, end: Int)
    }

    private let model: TFJSLayersModel
    /// How many layers read each layer (batch norm and activations fold only into a convolution read once).
    private let consumers: [String: Int]
    private var graph: LayerGraph?
    private var values: [String: Value] = [:]

    static func build(_ model: TFJSLayersModel) throws -> LayerGraph {
        var builder = KerasGraphBuilder(model: model)
        for layer in model.backbone { try builder.add(layer) }
        guard let g = builder.graph, case .node(let last)? = builder.values[model.backboneOutput], last == g.output else {
            throw WeightsError("\(model.source): the backbone's output '\(model.backboneOutput)' is not its last layer")
        }
        return g
    }

    private init(model: TFJSLayersModel) {
        self.model = model
        consumers = model.backbone.reduce(into: [:]) { counts, layer in for i in layer.inbound { counts[i, default: 0] += 1 } }
    }

    private mutating func add(_ layer: Layer) throws {
        if layer.className == "InputLayer" { return try inputLayer(layer) }
        guard var g = graph else { throw fail(layer, "comes before the InputLayer") }
        let value: Value
        switch layer.className {
        case "ZeroPadding2D": value = try zeroPadding(layer)
        case "Conv2D", "DepthwiseConv2D": value = .node(try convolution(layer, into: &g))
        case "BatchNormalization": value = .node(try batchNormalization(layer, into: &g))
        case "ReLU", "Activation": value = .node(try activation(layer, into: &g))
        case "Add": value = .node(try g.append(layer.name, .add, inputs: try layer.inbound.indices.map { try node(layer, $0) }))
        default: throw fail(layer, "layer type not supported")
        }
        values[layer.name] = value
        graph = g
    }

    // MARK: layer kinds

    private mutating func inputLayer(_ layer: Layer) throws {
        guard let shape = layer.config["batch_input_shape"] as? [Any?], shape.count == 4,
              let h = shape[1] as? Int, let w = shape[2] as? Int, h == w, (shape[3] as? Int) == 3 else {
            throw fail(layer, "input must be [batch, N, N, 3]")
        }
        graph = LayerGraph(inputSize: h)
        values[layer.name] = .node(LayerGraph.image)
    }

    private func zeroPadding(_ layer: Layer) throws -> Value {
        guard let p = layer.config["padding"] as? [[Int]], p.count == 2, p[0] == p[1] else {
            throw fail(layer, "only equal padding of rows and columns is supported")
        }
        return .padded(source: try node(layer), begin: p[0][0], end: p[0][1])
    }

    private func convolution(_ layer: Layer, into g: inout LayerGraph) throws -> Int {
        let c = layer.config
        let depthwise = layer.className == "DepthwiseConv2D"
        let strides = Self.pair(c["strides"]) ?? [1, 1]
        guard let kernel = Self.pair(c["kernel_size"]), kernel[0] == kernel[1], strides[0] == strides[1],
              (Self.pair(c["dilation_rate"]) ?? [1, 1]) == [1, 1] else {
            throw fail(layer, "only square kernels and strides without dilation are supported")
        }
        var source: Int, begin = 0, end = 0
        switch try input(layer) {
        case .node(let n): source = n
        case .padded(let n, let b, let e): source = n; begin = b; end = e
        }
        let inShape = g.shape(source)
        let k = kernel[0], s = strides[0]
        if (c["padding"] as? String) == "same" {
            // TensorFlow's "same": output ceil(n / s), the extra padding after.
            let out = (inShape.height + s - 1) / s
            let total = max((out - 1) * s + k - inShape.height, 0)
            begin += total / 2
            end += total - total / 2
        }
        let inC = inShape.channels
        let outC: Int, oihw: [Float]
        if depthwise {
            guard (c["depth_multiplier"] as? Int ?? 1) == 1 else { throw fail(layer, "depth_multiplier other than 1") }
            outC = inC
            oihw = ConvolutionWeights.oihw(fromHWIO: try weight(layer, "depthwise_kernel", [k, k, inC, 1]), kernel: k,
                                           inputs: inC, outputs: 1)
        } else {
            guard let filters = c["filters"] as? Int else { throw fail(layer, "no filters") }
            outC = filters
            oihw = ConvolutionWeights.oihw(fromHWIO: try weight(layer, "kernel", [k, k, inC, outC]), kernel: k,
                                           inputs: inC, outputs: outC)
        }
        // Keras names both layers' bias "bias"; "depthwise_bias" only ever came from Lightbox's
        // own TF.js exports before they were fixed, which this keeps readable.
        let legacyBias = depthwise && model.weights["\(layer.name)/bias"] == nil && model.weights["\(layer.name)/depthwise_bias"] != nil
        let bias = (c["use_bias"] as? Bool ?? true) ? try weight(layer, legacyBias ? "depthwise_bias" : "bias", [outC])
                                                    : [Float](repeating: 0, count: outC)
        var spec = ConvolutionSpec(inputChannels: inC, outputChannels: outC, kernel: k, stride: s, padding: begin,
                                   groups: depthwise ? inC : 1)
        spec.paddingEnd = end
        switch c["activation"] as? String ?? "linear" {
        case "linear": break
        case "relu": spec.activation = .relu
        case "relu6": spec.activation = .relu6
        case let other: throw fail(layer, "activation '\(other)' is not supported")
        }
        return try g.append(layer.name, .convolution(spec, weights: oihw, bias: bias), inputs: [source])
    }

    /// Folded into the convolution it follows.
    private func batchNormalization(_ layer: Layer, into g: inout LayerGraph) throws -> Int {
        let c = layer.config
        let n = try node(layer)
        guard n >= 0, case .convolution(var spec, var w, var b) = g.nodes[n].operation, spec.activation == .none,
              consumers[layer.inbound[0]] == 1 else {
            throw fail(layer, "batch normalisation must directly follow a convolution used nowhere else")
        }
        let ch = spec.outputChannels
        let gamma = (c["scale"] as? Bool ?? true) ? try weight(layer, "gamma", [ch]) : [Float](repeating: 1, count: ch)
        let beta = (c["center"] as? Bool ?? true) ? try weight(layer, "beta", [ch]) : [Float](repeating: 0, count: ch)
        ConvolutionWeights.foldBatchNorm(weights: &w, bias: &b, gamma: gamma, beta: beta,
                                         mean: try weight(layer, "moving_mean", [ch]),
                                         variance: try weight(layer, "moving_variance", [ch]),
                                         epsilon: Float(c["epsilon"] as? Double ?? 0.001))
        spec.activation = .none
        g.nodes[n].operation = .convolution(spec, weights: w, bias: b)
        return n
    }

    /// Fused into the convolution it follows when that one is read only here; else a node of its own.
    private func activation(_ layer: Layer, into g: inout LayerGraph) throws -> Int {
        let c = layer.config
        let kind: ConvolutionSpec.Activation
        if layer.className == "ReLU" {
            let maxValue = c["max_value"] as? Double
            guard (c["negative_slope"] as? Double ?? 0) == 0, (c["threshold"] as? Double ?? 0) == 0,
                  maxValue == nil || maxValue == 6 else {
                throw fail(layer, "only ReLU and ReLU6 are supported")
            }
            kind = maxValue == 6 ? .relu6 : .relu
        } else {
            switch c["activation"] as? String {
            case "relu": kind = .relu
            case "relu6": kind = .relu6
            case "linear": kind = .none
            case let other: throw fail(layer, "activation '\(other ?? "?")' is not supported")
            }
        }
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
        WeightsError("\(model.source): layer '\(layer.name)' (\(layer.className)): \(why)")
    }

    private func input(_ layer: Layer, _ k: Int = 0) throws -> Value {
        guard k < layer.inbound.count, let v = values[layer.inbound[k]] else { throw fail(layer, "its input is not a known layer") }
        return v
    }

    private func node(_ layer: Layer, _ k: Int = 0) throws -> Int {
        guard case .node(let n) = try input(layer, k) else { throw fail(layer, "reads a ZeroPadding2D, which only a convolution may") }
        return n
    }

    private func weight(_ layer: Layer, _ param: String, _ shape: [Int]) throws -> [Float] {
        guard let t = model.weights["\(layer.name)/\(param)"] else { throw fail(layer, "weight '\(layer.name)/\(param)' missing") }
        guard t.shape == shape else { throw fail(layer, "weight '\(param)' has shape \(t.shape), expected \(shape)") }
        return t.values
    }

    private static func pair(_ any: Any?) -> [Int]? { (any as? [Int]) ?? (any as? Int).map { [$0, $0] } }
}
