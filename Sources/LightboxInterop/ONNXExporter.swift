import Foundation
import LightboxCore
import LightboxImaging
import LightboxKernels
import LightboxModels
import LightboxONNX
import SwiftProtobuf

/// Writes a model as one ONNX graph (opset 13): RGB pixels in (`image`, float32
/// `[N, 3, S, S]`, values 0-255, after the model's resize policy to S x S), class
/// probabilities out (`probabilities`, `[N, classes]`). The normalisation is inside the graph;
/// the preprocessing and class names are in the model's metadata. A fine-tuned ensemble is one
/// graph too: the frozen modules once, each member's modules (batch norm folded from its running
/// statistics) and head, the members' probabilities averaged (`Mean`).
public enum ONNXExporter {
    public static let opset: Int64 = 13

    public static func export(_ bundle: ModelBundle, to path: String) throws {
        let (graph, members) = try bundle.fineTuned.map { try fineTunedGraph(bundle, $0) } ?? (try layerGraph(for: bundle), [])
        var builder = ONNXGraphBuilder()
        let p = try bundle.preprocessing.preprocessor()
        let normalization = p.normalization
        // x / 255, then ImageNet's (or Teachable Machine's) mean and standard deviation.
        builder.constant("pixel_scale", [1, 3, 1, 1], (0..<3).map { 1 / (255 * normalization.std[$0]) })
        builder.constant("pixel_shift", [1, 3, 1, 1], (0..<3).map { -normalization.mean[$0] / normalization.std[$0] })
        builder.node("Mul", ["image", "pixel_scale"], "scaled")
        builder.node("Add", ["scaled", "pixel_shift"], "normalized")
        builder.constant("relu6_min", [], [0])
        builder.constant("relu6_max", [], [6])

        var names: [Int: String] = [LayerGraph.image: "normalized"]
        for (i, node) in graph.nodes.enumerated() {
            let out = "t\(i)_\(node.name)"
            let inputs = node.inputs.map { names[$0]! }
            switch node.operation {
            case .convolution(let spec, let weights, let bias):
                builder.constant("\(out)_w", [spec.outputChannels, spec.inputChannels / spec.groups, spec.kernel, spec.kernel], weights)
                builder.constant("\(out)_b", [spec.outputChannels], bias)
                let end = spec.paddingEnd ?? spec.padding
                // A fused residual (`accumulate`) is an Add of the second input before the activation.
                let last = spec.activation == .none ? out : "\(out)_act_in"
                let conv = spec.accumulate ? "\(out)_conv" : last
                builder.node("Conv", [inputs[0], "\(out)_w", "\(out)_b"], conv, attributes: [
                    .ints("kernel_shape", [spec.kernel, spec.kernel]), .ints("strides", [spec.stride, spec.stride]),
                    .ints("pads", [spec.padding, spec.padding, end, end]), .ints("dilations", [1, 1]),
                    .int("group", spec.groups),
                ])
                if spec.accumulate { builder.node("Add", [conv, inputs[1]], last) }
                builder.activation(spec.activation, last, out)
            case .add:
                builder.node("Add", inputs, out)
            case .activation(let kind):
                builder.activation(kind, inputs[0], out)
            }
            names[i] = out
        }
        let classes = bundle.classes.count
        if members.isEmpty {
            let head = try bundle.denseHead(for: "ONNX export")
            builder.node("GlobalAveragePool", [names[graph.output]!], "pooled")
            builder.node("Flatten", ["pooled"], "embedding", attributes: [.int("axis", 1)])
            builder.constant("head_w1", [head.hidden, head.inputs], head.w1)
            builder.constant("head_b1", [head.hidden], head.b1)
            builder.constant("head_w2", [head.classes, head.hidden], head.w2)
            builder.node("Gemm", ["embedding", "head_w1", "head_b1"], "hidden_linear", attributes: [.int("transB", 1)])
            builder.node("Relu", ["hidden_linear"], "hidden")
            builder.node("Gemm", ["hidden", "head_w2"], "logits", attributes: [.int("transB", 1)])
            builder.node("Softmax", ["logits"], "probabilities", attributes: [.int("axis", 1)])
        } else {
            for (m, member) in members.enumerated() {
                let inputs = member.weight.count / classes
                builder.node("GlobalAveragePool", [names[member.output]!], "m\(m)_pooled")
                builder.node("Flatten", ["m\(m)_pooled"], "m\(m)_embedding", attributes: [.int("axis", 1)])
                builder.constant("m\(m)_head_w", [classes, inputs], member.weight)
                builder.constant("m\(m)_head_b", [classes], member.bias)
                builder.node("Gemm", ["m\(m)_embedding", "m\(m)_head_w", "m\(m)_head_b"], "m\(m)_logits", attributes: [.int("transB", 1)])
                builder.node("Softmax", ["m\(m)_logits"], "m\(m)_probabilities", attributes: [.int("axis", 1)])
            }
            builder.node("Mean", members.indices.map { "m\($0)_probabilities" }, "probabilities")
        }

        let size = graph.inputSize
        var model = Onnx_ModelProto()
        model.irVersion = 7
        model.producerName = "Lightbox"
        model.producerVersion = "1"
        model.modelVersion = Int64(members.isEmpty ? ModelBundle.headFormatVersion : ModelBundle.formatVersion)
        var opset = Onnx_OperatorSetIdProto()
        opset.domain = ""
        opset.version = ONNXExporter.opset
        model.opsetImport = [opset]
        var g = builder.graph
        g.name = "lightbox"
        g.input = [valueInfo("image", dims: ["N", 3, size, size])]
        g.output = [valueInfo("probabilities", dims: ["N", classes])]
        model.graph = g
        let classNames = String(decoding: try JSONSerialization.data(withJSONObject: bundle.classes), as: UTF8.self)
        let metadata: [(String, String)] = [
            ("classes", classNames),
            ("preprocessing", "RGB pixels 0-255, NCHW float32; decode, alpha over black, resize policy '\(p.policy.rawValue)' to \(size)x\(size) with antialiased bilinear resampling (Lightbox README, Preprocessing); the normalisation (mean \(normalization.mean), std \(normalization.std) on x/255) is inside the graph"),
            ("backbone", bundle.backbone.id),
            ("lightbox_format_version", "\(members.isEmpty ? ModelBundle.headFormatVersion : ModelBundle.formatVersion)"),
            ("disclaimer", ModelBundle.disclaimer),
        ]
        let outside = bundle.stepsOutsideExport.map { [("equalize", bundle.preprocessing.equalize ?? ""), ("preprocessing_outside_model", $0)] }
        // The decision threshold `predict` uses, for users who turn probabilities into a class.
        let point = try bundle.operatingPoint.map { p -> [(String, String)] in
            let encoder = JSONEncoder()
            encoder.outputFormatting = .sortedKeys
            return [("operating_point", String(decoding: try encoder.encode(p), as: UTF8.self))]
        }
        model.metadataProps = (metadata + (outside ?? []) + (point ?? [])).map { key, value in
            var e = Onnx_StringStringEntryProto()
            e.key = key
            e.value = value
            return e
        }
        try AtomicFile.write(try model.serializedData(), to: path)
    }


    /// The backbone as a layer graph: the default MobileNetV2 from its table and folded
    /// weights, or a Teachable Machine backbone from its topology; either way the weights the
    /// bundle was trained on (checked by digest), without building a oneDNN network.
    static func layerGraph(for bundle: ModelBundle) throws -> LayerGraph {
        if try bundle.backboneKind() == .teachableMachine {
            return try bundle.teachableMachineBackbone().backboneGraph()
        }
        return try MobileNetV2Architecture().layerGraph(weights: try bundle.pretrainedWeights())
    }

    /// A fine-tuned ensemble as one layer graph: the frozen modules through the one before the
    /// trained ones, then each member's trained modules with batch norm folded from its running
    /// statistics; each member's last node and head.
    static func fineTunedGraph(_ bundle: ModelBundle, _ ensemble: FineTunedEnsemble) throws
        -> (LayerGraph, [(output: Int, weight: [Float], bias: [Float])]) {
        try bundle.requireInputSize(MobileNetV2Architecture().inputSize)
        var graph = try MobileNetV2Architecture().layerGraph(weights: try bundle.pretrainedWeights(), throughModule: ensemble.firstModule - 1)
        let frozenOutput = graph.output
        let classes = bundle.classes.count
        var members: [(output: Int, weight: [Float], bias: [Float])] = []
        for (m, tensors) in ensemble.members.enumerated() {
            let store = NamedTensors(tensors, source: "\(bundle.directory ?? "model") member \(m)")
            let tail = try TrainableTail(weights: store, firstModule: ensemble.firstModule)
            var x = frozenOutput
            for (b, block) in tail.blocks.enumerated() {
                let input = x
                for (u, unit) in block.units.enumerated() {
                    var weights = unit.weights, bias = [Float](repeating: 0, count: unit.spec.outputChannels)
                    ConvolutionWeights.foldBatchNorm(weights: &weights, bias: &bias, gamma: unit.gamma, beta: unit.beta,
                                                     mean: unit.runningMean, variance: unit.runningVariance, epsilon: TrainableTail.epsilon)
                    x = try graph.append("m\(m)_b\(b)_\(u)", .convolution(unit.spec, weights: weights, bias: bias), inputs: [x])
                }
                if block.residual { x = try graph.append("m\(m)_b\(b)_add", .add, inputs: [input, x]) }
            }
            members.append((x, try store.tensor("head.weight", shape: [classes, tail.outputChannels]).values,
                            try store.tensor("head.bias", shape: [classes]).values))
        }
        return (graph, members)
    }

    static func valueInfo(_ name: String, dims: [Any]) -> Onnx_ValueInfoProto {
        var shape = Onnx_TensorShapeProto()
        shape.dim = dims.map { d in
            var dim = Onnx_TensorShapeProto.Dimension()
            if let v = d as? Int { dim.dimValue = Int64(v) } else { dim.dimParam = "\(d)" }
            return dim
        }
        var tensor = Onnx_TypeProto.Tensor()
        tensor.elemType = Int32(Onnx_TensorProto.DataType.float.rawValue)
        tensor.shape = shape
        var type = Onnx_TypeProto()
        type.tensorType = tensor
        var info = Onnx_ValueInfoProto()
        info.name = name
        info.type = type
        return info
    }
}

/// Accumulates ONNX nodes and initialisers.
struct ONNXGraphBuilder {
    var graph = Onnx_GraphProto()

    enum Attribute {
        case int(String, Int)
        case ints(String, [Int])
    }

    mutating func constant(_ name: String, _ dims: [Int], _ values: [Float]) {
        var t = Onnx_TensorProto()
        t.name = name
        t.dims = dims.map(Int64.init)
        t.dataType = Int32(Onnx_TensorProto.DataType.float.rawValue)
        t.rawData = values.withUnsafeBytes { Data($0) }  // little-endian float32, as ONNX requires
        graph.initializer.append(t)
    }

    mutating func node(_ op: String, _ inputs: [String], _ output: String, attributes: [Attribute] = []) {
        var n = Onnx_NodeProto()
        n.opType = op
        n.name = output
        n.input = inputs
        n.output = [output]
        n.attribute = attributes.map { a in
            var p = Onnx_AttributeProto()
            switch a {
            case .int(let name, let v):
                p.name = name
                p.type = .int
                p.i = Int64(v)
            case .ints(let name, let v):
                p.name = name
                p.type = .ints
                p.ints = v.map(Int64.init)
            }
            return p
        }
        graph.node.append(n)
    }

    mutating func activation(_ kind: ConvolutionSpec.Activation, _ input: String, _ output: String) {
        switch kind {
        case .none: break
        case .relu: node("Relu", [input], output)
        case .relu6: node("Clip", [input, "relu6_min", "relu6_max"], output)
        }
    }
}
