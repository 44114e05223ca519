import LightboxKernels

/// Turns a Keras functional backbone (MobileNet-style: ZeroPadding2D, Conv2D,
/// DepthwiseConv2D, BatchNormalization, ReLU, Add) into a LayerGraph, folding batch norm
/// (with the layer's epsilon) into the convolution before it and fusing ReLU / ReLU6.
enum KerasGraphBuilder {
    /// What a layer name stands for while building.
    private enum Value {
        case node(Int)
        /// A ZeroPadding2D: the padding to give the convolution that reads it.
        case padded(source: Int, begin: Int, end: Int)
    }

    static func build(_ model: TFJSLayersModel) throws -> LayerGraph {
        var consumers: [String: Int] = [:]
        for l in model.backbone { for i in l.inbound { consumers[i, default: 0] += 1 } }
        var graph: LayerGraph?
        var values: [String: Value] = [:]

        func fail(_ layer: TFJSLayersModel.Layer, _ why: String) -> WeightsError {
            WeightsError("\(model.source): layer '\(layer.name)' (\(layer.className)): \(why)")
        }
        func input(_ layer: TFJSLayersModel.Layer, _ k: Int = 0) throws -> Value {
            guard k < layer.inbound.count, let v = values[layer.inbound[k]] else { throw fail(layer, "its input is not a known layer") }
            return v
        }
        func node(_ layer: TFJSLayersModel.Layer, _ k: Int = 0) throws -> Int {
            guard case .node(let n) = try input(layer, k) else { throw fail(layer, "reads a ZeroPadding2D, which only a convolution may") }
            return n
        }
        func weight(_ layer: TFJSLayersModel.Layer, _ param: String, _ shape: [Int]) throws -> [Float] {
            guard let t = model.weights["\(layer.name)/\(param)"] else { throw fail(layer, "weight '\(layer.name)/\(param)' missing") }
            guard t.shape == shape else { throw fail(layer, "weight '\(param)' has shape \(t.shape), expected \(shape)") }
            return t.values
        }
        func pair(_ any: Any?) -> [Int]? { (any as? [Int]) ?? (any as? Int).map { [$0, $0] } }

        for layer in model.backbone {
            let c = layer.config
            switch layer.className {
            case "InputLayer":
                guard let shape = c["batch_input_shape"] as? [Any?], shape.count == 4,
                      let h = shape[1] as? Int, let w = shape[2] as? Int, h == w, (shape[3] as? Int) == 3 else {
                    throw fail(layer, "input must be [batch, N, N, 3]")
                }
                graph = LayerGraph(inputSize: h)
                values[layer.name] = .node(LayerGraph.image)

            case "ZeroPadding2D":
                guard let p = c["padding"] as? [[Int]], p.count == 2, p[0] == p[1] else {
                    throw fail(layer, "only equal padding of rows and columns is supported")
                }
                values[layer.name] = .padded(source: try node(layer), begin: p[0][0], end: p[0][1])

            case "Conv2D", "DepthwiseConv2D":
                guard var g = graph else { throw fail(layer, "comes before the InputLayer") }
                let depthwise = layer.className == "DepthwiseConv2D"
                let strides = pair(c["strides"]) ?? [1, 1]
                guard let kernel = pair(c["kernel_size"]), kernel[0] == kernel[1], strides[0] == strides[1],
                      (pair(c["dilation_rate"]) ?? [1, 1]) == [1, 1] else {
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
                let outC: Int
                var oihw: [Float]
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
                values[layer.name] = .node(try g.append(layer.name, .convolution(spec, weights: oihw, bias: bias), inputs: [source]))
                graph = g

            case "BatchNormalization":
                guard var g = graph else { throw fail(layer, "comes before the InputLayer") }
                let n = try node(layer)
                guard n >= 0, case .convolution(var spec, var w, var b) = g.nodes[n].operation, spec.activation == .none,
                      consumers[layer.inbound[0]] == 1 else {
                    throw fail(layer, "batch normalisation must directly follow a convolution used nowhere else")
                }
                let ch = spec.outputChannels
                let epsilon = Float(c["epsilon"] as? Double ?? 0.001)
                let gamma = (c["scale"] as? Bool ?? true) ? try weight(layer, "gamma", [ch]) : [Float](repeating: 1, count: ch)
                let beta = (c["center"] as? Bool ?? true) ? try weight(layer, "beta", [ch]) : [Float](repeating: 0, count: ch)
                let mean = try weight(layer, "moving_mean", [ch]), variance = try weight(layer, "moving_variance", [ch])
                ConvolutionWeights.foldBatchNorm(weights: &w, bias: &b, gamma: gamma, beta: beta, mean: mean, variance: variance,
                                                 epsilon: epsilon)
                spec.activation = .none
                g.nodes[n].operation = .convolution(spec, weights: w, bias: b)
                values[layer.name] = .node(n)
                graph = g

            case "ReLU", "Activation":
                guard var g = graph else { throw fail(layer, "comes before the InputLayer") }
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
                    spec.activation = kind  // fused into the convolution
                    g.nodes[n].operation = .convolution(spec, weights: w, bias: b)
                    values[layer.name] = .node(n)
                } else {
                    values[layer.name] = .node(try g.append(layer.name, .activation(kind), inputs: [n]))
                }
                graph = g

            case "Add":
                guard var g = graph else { throw fail(layer, "comes before the InputLayer") }
                let inputs = try layer.inbound.indices.map { try node(layer, $0) }
                values[layer.name] = .node(try g.append(layer.name, .add, inputs: inputs))
                graph = g

            default:
                throw fail(layer, "layer type not supported")
            }
        }
        guard let g = graph, case .node(let last)? = values[model.backboneOutput], last == g.output else {
            throw WeightsError("\(model.source): the backbone's output '\(model.backboneOutput)' is not its last layer")
        }
        return g
    }
}
