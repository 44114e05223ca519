import Foundation
import LightboxCore
import LightboxHead
import LightboxImaging
import LightboxKernels
import LightboxModels
import LightboxONNX
import SwiftProtobuf

/// Writes a model as one ONNX graph (opset 13): RGB pixels in (`image`, float32
/// `[N, 3, S, S]`, values 0-255, after the model's resize policy to S x S), class
/// probabilities out (`probabilities`, `[N, classes]`). The normalisation is inside the graph;
/// the preprocessing and class names are in the model's metadata. An ensemble is one graph
/// too: the frozen part once, then each member's own modules (batch norm folded from its
/// running statistics), pooling and head, the members' probabilities averaged (`Mean`). A
/// calibrated bundle's temperature is in the graph after them (`Max` with the floor, `Log`,
/// `Div` by T, `Softmax`: `TemperatureScaling.apply`), so the output is what `predict` shows;
/// without one the graph is what it was before calibration existed.
public enum ONNXExporter {
    public static let opset: Int64 = 13

    public static func export(_ bundle: ModelBundle, to path: String, weightsFolder: String) throws {
        let (graph, outputs) = try membersGraph(bundle, weightsFolder: weightsFolder)
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
        // The members' mean: the output itself, or the calibration's input.
        let mean = bundle.calibration == nil ? "probabilities" : "uncalibrated_probabilities"
        // One member's nodes keep plain names ("pooled", ..., "probabilities"); an ensemble's are prefixed.
        let single = bundle.members.count == 1
        for (m, (member, output)) in zip(bundle.members, outputs).enumerated() {
            let p = single ? "" : "m\(m)_", probabilities = single ? mean : "m\(m)_probabilities"
            builder.node("GlobalAveragePool", [names[output]!], p + "pooled")
            builder.node("Flatten", [p + "pooled"], p + "embedding", attributes: [.int("axis", 1)])
            switch member.head {
            case .dense(let head):
                builder.constant(p + "head_w1", [head.hidden, head.inputs], head.w1)
                builder.constant(p + "head_b1", [head.hidden], head.b1)
                builder.constant(p + "head_w2", [head.classes, head.hidden], head.w2)
                builder.node("Gemm", [p + "embedding", p + "head_w1", p + "head_b1"], p + "hidden_linear", attributes: [.int("transB", 1)])
                builder.node("Relu", [p + "hidden_linear"], p + "hidden")
                builder.node("Gemm", [p + "hidden", p + "head_w2"], p + "logits", attributes: [.int("transB", 1)])
            case .linear(let linear):
                builder.constant(p + "head_w", [classes, linear.inputs], linear.weight)
                builder.constant(p + "head_b", [classes], linear.bias)
                builder.node("Gemm", [p + "embedding", p + "head_w", p + "head_b"], p + "logits", attributes: [.int("transB", 1)])
            }
            builder.node("Softmax", [p + "logits"], probabilities, attributes: [.int("axis", 1)])
        }
        if !single { builder.node("Mean", bundle.members.indices.map { "m\($0)_probabilities" }, mean) }
        if let calibration = bundle.calibration {
            builder.constant("calibration_floor", [], [Float(TemperatureScaling.floor)])
            builder.constant("calibration_temperature", [], [Float(calibration.temperature)])
            builder.node("Max", [mean, "calibration_floor"], "calibration_clamped")
            builder.node("Log", ["calibration_clamped"], "calibration_log")
            builder.node("Div", ["calibration_log", "calibration_temperature"], "calibration_logits")
            builder.node("Softmax", ["calibration_logits"], "probabilities", attributes: [.int("axis", 1)])
        }

        let size = graph.inputSize
        var model = Onnx_ModelProto()
        model.irVersion = 7
        model.producerName = "Lightbox"
        model.producerVersion = "1"
        model.modelVersion = Int64(bundle.writtenVersion)
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
            ("lightbox_format_version", "\(bundle.writtenVersion)"),
            ("disclaimer", ModelBundle.disclaimer),
        ]
        let outside = bundle.stepsOutsideExport.map { [("equalize", bundle.preprocessing.equalize.rawValue), ("preprocessing_outside_model", $0)] }
        // The decision threshold `predict` uses, for users who turn probabilities into a class.
        let point = try bundle.operatingPoint.map { p -> [(String, String)] in
            let encoder = JSONEncoder()
            encoder.outputFormatting = .sortedKeys
            return [("operating_point", String(decoding: try encoder.encode(p), as: UTF8.self))]
        }
        // The temperature the graph applies, so nobody applies it twice.
        let calibration = try bundle.calibrationMetadataJSON(inGraph: true).map { [("calibration", $0)] }
        model.metadataProps = (metadata + (outside ?? []) + (point ?? []) + (calibration ?? [])).map { key, value in
            var e = Onnx_StringStringEntryProto()
            e.key = key
            e.value = value
            return e
        }
        try AtomicFile.write(try model.serializedData(), to: path)
    }


    /// The model as one layer graph: the frozen part (`ModelBundle.frozenGraph`), then each
    /// member's own modules after it; and each member's last node, where its pooling and head go.
    static func membersGraph(_ bundle: ModelBundle, weightsFolder: String) throws -> (LayerGraph, [Int]) {
        var graph = try bundle.frozenGraph(weightsFolder: weightsFolder)
        let frozenOutput = graph.output
        let outputs = try bundle.members.enumerated().map { m, member -> Int in
            guard let (modules, weights) = member.trainedModules else { return frozenOutput }
            return try bundle.architecture().appendModules(modules, weights: weights, to: &graph, after: frozenOutput, prefix: "m\(m)_")
        }
        return (graph, outputs)
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
