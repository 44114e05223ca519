import Foundation
import LightboxKernels

/// The one validation pass over a TF.js backbone's topology, run before anything is built: the
/// layers' order and connections, every attribute the graph builder uses (input shape, padding,
/// kernel sizes, strides, dilations, filters, epsilon) within sane ranges, each layer's output
/// shape, and the weights' actual shapes against them. A hostile `model.json` (zero strides, a
/// terabyte input, a cycle, a missing input, weights of another shape) is refused here with an
/// error naming the model file, the layer and the attribute, never a trap or a huge allocation.
/// `KerasGraphBuilder` builds from what this pass returns and reads no attribute itself.
struct KerasTopologyCheck {
    typealias Layer = TFJSLayersModel.Layer

    /// Square inputs of this many pixels a side (Teachable Machine's is 224).
    static let inputSizes = 8...1024
    static let kernelSizes = 1...15
    static let strides = 1...8
    /// ZeroPadding2D on either side.
    static let paddings = 0...16
    static let filters = 1...8192
    /// Inputs of one Add.
    static let addInputs = 2...16
    /// Layers in the backbone (MobileNetV2 has 155).
    static let maxLayers = 4096
    /// Values in one layer's output for one image (1 GiB of float32): the whole network's are
    /// bounded by `LayerGraph.maxActivationValues`.
    static let maxOutputValues = LayerGraph.maxActivationValues

    /// What a layer is, with its attributes checked; the builder turns each into graph nodes.
    enum Checked {
        case input(size: Int)
        /// A ZeroPadding2D: only a convolution may read it, which takes the padding.
        case zeroPadding
        /// Padding resolved (ZeroPadding2D before it and "same" included); `bias` nil: none.
        case convolution(ConvolutionSpec, kernel: String, bias: String?)
        case batchNormalization(epsilon: Float, gamma: Bool, beta: Bool)
        case activation(ConvolutionSpec.Activation)
        case add
    }

    struct Shape: Equatable { var height: Int, width: Int, channels: Int }

    private let model: TFJSLayersModel
    private var shapes: [String: Shape] = [:]
    private var paddingOf: [String: (source: String, begin: Int, end: Int)] = [:]

    /// The backbone's layers, each checked (in file order), or the first problem.
    static func check(_ model: TFJSLayersModel) throws -> [Checked] {
        var pass = KerasTopologyCheck(model: model)
        guard model.backbone.count <= maxLayers else {
            throw WeightsError("\(model.topologyFile): the backbone has \(model.backbone.count) layers, over the limit of \(maxLayers)")
        }
        let checked = try model.backbone.map { try pass.check($0) }
        guard pass.shapes[model.backboneOutput] != nil else {
            throw WeightsError("\(model.topologyFile): the backbone's output '\(printable(model.backboneOutput))' is not one of its layers")
        }
        return checked
    }

    private init(model: TFJSLayersModel) { self.model = model }

    /// The layer kinds the builder knows.
    static let kinds: Set = ["InputLayer", "ZeroPadding2D", "Conv2D", "DepthwiseConv2D", "BatchNormalization", "ReLU", "Activation", "Add"]

    private mutating func check(_ layer: Layer) throws -> Checked {
        guard Self.kinds.contains(layer.className) else { throw fail(layer, "class_name", "layer type not supported") }
        guard shapes[layer.name] == nil else { throw fail(layer, "name", "another layer has the same name") }
        let expected = layer.className == "InputLayer" ? 0...0 : layer.className == "Add" ? Self.addInputs : 1...1
        guard expected.contains(layer.inbound.count) else {
            throw fail(layer, "inbound_nodes", "has \(layer.inbound.count) inputs, expected \(expected.lowerBound == expected.upperBound ? "\(expected.lowerBound)" : "\(expected.lowerBound)-\(expected.upperBound)")")
        }
        for name in layer.inbound where shapes[name] == nil {
            throw fail(layer, "inbound_nodes", "input '\(Self.printable(name))' is not an earlier layer (missing, or a cycle)")
        }
        guard layer.className == "InputLayer" || !shapes.isEmpty else { throw fail(layer, "class_name", "comes before the InputLayer") }
        let checked: Checked, shape: Shape
        switch layer.className {
        case "InputLayer": (checked, shape) = try inputLayer(layer)
        case "ZeroPadding2D": (checked, shape) = try zeroPadding(layer)
        case "Conv2D", "DepthwiseConv2D": (checked, shape) = try convolution(layer)
        case "BatchNormalization": (checked, shape) = try batchNormalization(layer)
        case "ReLU", "Activation": (checked, shape) = (try activation(layer), try unpadded(layer, 0))
        case "Add": (checked, shape) = try add(layer)
        default: throw fail(layer, "class_name", "layer type not supported")
        }
        guard ShapeMath.elementCount([shape.height, shape.width, shape.channels], limit: Self.maxOutputValues) != nil else {
            throw fail(layer, "output", "its output (\(shape.height)x\(shape.width)x\(shape.channels)) is over the limit of \(Self.maxOutputValues) values")
        }
        shapes[layer.name] = shape
        return checked
    }

    // MARK: layer kinds

    private func inputLayer(_ layer: Layer) throws -> (Checked, Shape) {
        guard shapes.isEmpty else { throw fail(layer, "class_name", "a second InputLayer") }
        guard let shape = layer.config["batch_input_shape"] as? [Any?], shape.count == 4,
              let h = shape[1] as? Int, let w = shape[2] as? Int, h == w, (shape[3] as? Int) == 3 else {
            throw fail(layer, "batch_input_shape", "must be [batch, N, N, 3]")
        }
        guard Self.inputSizes.contains(h) else {
            throw fail(layer, "batch_input_shape", "\(h)x\(w) pixels is outside \(Self.inputSizes.lowerBound)-\(Self.inputSizes.upperBound) a side")
        }
        return (.input(size: h), Shape(height: h, width: w, channels: 3))
    }

    private mutating func zeroPadding(_ layer: Layer) throws -> (Checked, Shape) {
        guard let p = layer.config["padding"] as? [[Int]], p.count == 2, p[0].count == 2, p[0] == p[1] else {
            throw fail(layer, "padding", "only equal padding of rows and columns ([[a, b], [a, b]]) is supported")
        }
        guard p[0].allSatisfy({ Self.paddings.contains($0) }) else { throw fail(layer, "padding", Self.outside(p[0], Self.paddings)) }
        let input = try unpadded(layer, 0)
        paddingOf[layer.name] = (layer.inbound[0], p[0][0], p[0][1])
        return (.zeroPadding, Shape(height: input.height + p[0][0] + p[0][1], width: input.width + p[0][0] + p[0][1],
                                    channels: input.channels))
    }

    private func convolution(_ layer: Layer) throws -> (Checked, Shape) {
        let depthwise = layer.className == "DepthwiseConv2D"
        let kernel = try pair(layer, "kernel_size", default: nil, Self.kernelSizes)
        let stride = try pair(layer, "strides", default: 1, Self.strides)
        guard try pair(layer, "dilation_rate", default: 1, 1...Int.max) == 1 else {
            throw fail(layer, "dilation_rate", "only 1 (no dilation) is supported")
        }
        // The input is the layer read, or the tensor a ZeroPadding2D pads (the convolution pads it).
        let read = layer.inbound[0]
        var begin = 0, end = 0, source = read
        if let padding = paddingOf[read] { (source, begin, end) = padding }
        let input = shapes[read]!
        switch Self.text(layer, "padding", default: "valid") {
        case "valid": break
        case "same":
            // TensorFlow's "same": output ceil(n / s), the extra padding after.
            let out = (input.height + stride - 1) / stride
            let total = max((out - 1) * stride + kernel - input.height, 0)
            begin += total / 2
            end += total - total / 2
        case let other: throw fail(layer, "padding", "'\(Self.printable(other))' is not 'valid' or 'same'")
        }
        let inC = input.channels
        let outC: Int
        if depthwise {
            guard Self.integer(Self.attribute(layer, "depth_multiplier"), default: 1) == 1 else { throw fail(layer, "depth_multiplier", "only 1 is supported") }
            outC = inC
        } else {
            guard let filters = Self.integer(Self.attribute(layer, "filters"), default: nil), Self.filters.contains(filters) else {
                throw fail(layer, "filters", "must be a whole number from \(Self.filters.lowerBound) to \(Self.filters.upperBound)")
            }
            outC = filters
        }
        guard kernel <= input.height + begin + end else {
            throw fail(layer, "kernel_size", "\(kernel) is larger than its padded input (\(input.height + begin + end))")
        }
        let kernelName = depthwise ? "depthwise_kernel" : "kernel"
        try requireWeight(layer, kernelName, [kernel, kernel, inC, depthwise ? 1 : outC])
        var bias: String?
        if try flag(layer, "use_bias") {
            // Keras names both layers' bias "bias"; "depthwise_bias" only ever came from Lightbox's
            // own TF.js exports before they were fixed, which this keeps readable.
            let legacy = depthwise && model.weights["\(layer.name)/bias"] == nil && model.weights["\(layer.name)/depthwise_bias"] != nil
            bias = legacy ? "depthwise_bias" : "bias"
            try requireWeight(layer, bias!, [outC])
        }
        var spec = ConvolutionSpec(inputChannels: inC, outputChannels: outC, kernel: kernel, stride: stride, padding: begin,
                                   groups: depthwise ? inC : 1)
        spec.paddingEnd = end
        switch Self.text(layer, "activation", default: "linear") {
        case "linear": break
        case "relu": spec.activation = .relu
        case "relu6": spec.activation = .relu6
        case let other: throw fail(layer, "activation", "'\(Self.printable(other))' is not supported")
        }
        let size = spec.outputSize(shapes[source]!.height)
        return (.convolution(spec, kernel: kernelName, bias: bias), Shape(height: size, width: size, channels: outC))
    }

    private func batchNormalization(_ layer: Layer) throws -> (Checked, Shape) {
        let input = try unpadded(layer, 0)
        let axis = Self.integer(Self.attribute(layer, "axis"), default: -1)
        guard axis == -1 || axis == 3 else {
            throw fail(layer, "axis", "only the channel axis (-1 or 3) is supported")
        }
        let raw = Self.attribute(layer, "epsilon")
        let epsilon = raw == nil ? 0.001 : raw as? Double ?? .nan
        guard epsilon.isFinite, epsilon > 0, epsilon <= 1 else { throw fail(layer, "epsilon", "must be a number above 0 and at most 1") }
        let gamma = try flag(layer, "scale"), beta = try flag(layer, "center")
        let names = (gamma ? ["gamma"] : []) + (beta ? ["beta"] : []) + ["moving_mean", "moving_variance"]
        for name in names { try requireWeight(layer, name, [input.channels]) }
        return (.batchNormalization(epsilon: Float(epsilon), gamma: gamma, beta: beta), input)
    }

    private func activation(_ layer: Layer) throws -> Checked {
        if layer.className == "ReLU" {
            let maxValue = Self.attribute(layer, "max_value").map { $0 as? Double ?? .nan }
            let slope = Self.attribute(layer, "negative_slope").map { $0 as? Double ?? .nan } ?? 0
            let threshold = Self.attribute(layer, "threshold").map { $0 as? Double ?? .nan } ?? 0
            guard slope == 0, threshold == 0,
                  maxValue == nil || maxValue == 6 else {
                throw fail(layer, "max_value", "only ReLU and ReLU6 are supported")
            }
            return .activation(maxValue == 6 ? .relu6 : .relu)
        }
        switch Self.text(layer, "activation", default: "?") {
        case "relu": return .activation(.relu)
        case "relu6": return .activation(.relu6)
        case "linear": return .activation(.none)
        case let other: throw fail(layer, "activation", "'\(Self.printable(other))' is not supported")
        }
    }

    private func add(_ layer: Layer) throws -> (Checked, Shape) {
        let first = try unpadded(layer, 0)
        for k in layer.inbound.indices where try unpadded(layer, k) != first {
            throw fail(layer, "inbound_nodes", "adds tensors of different shapes")
        }
        return (.add, first)
    }

    // MARK: helpers

    /// The shape of input `k`, which must not be a ZeroPadding2D (only a convolution reads those).
    private func unpadded(_ layer: Layer, _ k: Int) throws -> Shape {
        guard paddingOf[layer.inbound[k]] == nil else { throw fail(layer, "inbound_nodes", "reads a ZeroPadding2D, which only a convolution may") }
        return shapes[layer.inbound[k]]!
    }

    /// A square attribute (`3` or `[3, 3]`) within `range`; absent: `default` (nil: required).
    private func pair(_ layer: Layer, _ key: String, default fallback: Int?, _ range: ClosedRange<Int>) throws -> Int {
        let any = Self.attribute(layer, key)
        let values: [Int]? = any == nil ? fallback.map { [$0, $0] } : (any as? [Int]) ?? (any as? Int).map { [$0, $0] }
        guard let values, values.count == 2, values[0] == values[1] else {
            throw fail(layer, key, "must be one whole number or two equal ones (square)")
        }
        guard range.contains(values[0]) else { throw fail(layer, key, Self.outside(values, range)) }
        return values[0]
    }

    /// A true/false attribute, true when absent.
    private func flag(_ layer: Layer, _ key: String) throws -> Bool {
        guard let value = Self.attribute(layer, key) else { return true }
        guard let flag = value as? Bool else { throw fail(layer, key, "must be true or false") }
        return flag
    }

    private func requireWeight(_ layer: Layer, _ param: String, _ shape: [Int]) throws {
        guard let t = model.weights["\(layer.name)/\(param)"] else { throw fail(layer, "weights", "weight '\(param)' missing") }
        guard t.shape == shape else { throw fail(layer, "weights", "weight '\(param)' has shape \(t.shape), expected \(shape)") }
    }

    private func fail(_ layer: Layer, _ attribute: String, _ why: String) -> WeightsError {
        WeightsError("\(model.topologyFile): layer '\(Self.printable(layer.name))' (\(Self.printable(layer.className))), \(attribute): \(why)")
    }

    /// An attribute's value; JSON null counts as absent.
    private static func attribute(_ layer: Layer, _ key: String) -> Any? {
        guard let value = layer.config[key], !(value is NSNull) else { return nil }
        return value
    }

    private static func integer(_ any: Any?, default fallback: Int?) -> Int? { any == nil ? fallback : any as? Int }

    /// A text attribute, `fallback` when absent; a value of another kind reads as "?" (refused by the caller).
    private static func text(_ layer: Layer, _ key: String, default fallback: String) -> String {
        guard let value = attribute(layer, key) else { return fallback }
        return value as? String ?? "?"
    }

    private static func outside(_ values: [Int], _ range: ClosedRange<Int>) -> String {
        "\(values) is outside \(range.lowerBound)-\(range.upperBound)"
    }

    /// A name from the file as an error shows it: control characters replaced, at most 80 characters.
    static func printable(_ text: String) -> String {
        let clean = String(String.UnicodeScalarView(text.unicodeScalars.map { $0.properties.generalCategory == .control ? "?" : $0 }))
        return clean.count > 80 ? clean.prefix(80) + "…" : clean
    }
}
