import Foundation
import LightboxCore
import LightboxHead
import LightboxImaging
import LightboxModels

/// Accumulates Keras layer configs, the weights manifest and the weight bytes.
struct KerasWriter {
    var layers: [[String: Any]] = []
    var dense: [[String: Any]] = []
    var manifest: [[String: Any]] = []
    /// Every weight in the order written: Keras name ("<layer>/<weight>"), shape, values.
    var tensors: [(name: String, shape: [Int], values: [Float])] = []
    /// weights.bin: the tensors' float32 values, one after another.
    var bytes: Data {
        var data = Data()
        for t in tensors { t.values.withUnsafeBytes { data.append(contentsOf: $0) } }
        return data
    }
    private var last = "input_1"
    var inputName = "input_1"
    var outputName: String { last }

    /// The backbone layers and weights of a read export, unchanged.
    mutating func copy(_ source: TFJSLayersModel) {
        for l in source.backbone {
            var entry: [String: Any] = ["name": l.name, "class_name": l.className, "config": l.config]
            entry["inbound_nodes"] = l.inbound.isEmpty ? [[Any]]() : [l.inbound.map { [$0, 0, 0, [String: Any]()] }]
            layers.append(entry)
            if l.className == "InputLayer" { inputName = l.name }
        }
        last = source.backboneOutput
        for name in source.weights.keys.sorted() where !source.head.contains(where: { name.hasPrefix($0.name + "/") }) {
            weight(name, source.weights[name]!.shape, source.weights[name]!.values)
        }
    }

    static let initializerVS: [String: Any] = ["class_name": "VarianceScaling",
                                               "config": ["scale": 1, "mode": "fan_avg", "distribution": "uniform", "seed": NSNull()]]
    static let zeros: [String: Any] = ["class_name": "Zeros", "config": [String: Any]()]
    static let ones: [String: Any] = ["class_name": "Ones", "config": [String: Any]()]

    mutating func weight(_ name: String, _ shape: [Int], _ values: [Float]) {
        precondition(shape.reduce(1, *) == values.count)
        manifest.append(["name": name, "shape": shape, "dtype": "float32"])
        tensors.append((name, shape, values))
    }

    mutating func add(_ className: String, _ name: String, _ config: [String: Any], inputs: [String]? = nil) {
        var c = config
        c["name"] = name
        c["trainable"] = true
        layers.append(["name": name, "class_name": className, "config": c,
                       "inbound_nodes": [(inputs ?? [last]).map { [$0, 0, 0, [String: Any]()] }]])
        last = name
    }

    mutating func pad(_ name: String, _ p: Int) {
        add("ZeroPadding2D", name, ["padding": [[p, p], [p, p]], "data_format": "channels_last"])
    }

    /// Conv2D or DepthwiseConv2D from a torch OIHW weight.
    mutating func conv(_ name: String, oihw w: Tensor, stride: Int, padding: String, depthwise: Bool, bias: [Float]? = nil) {
        let o = w.shape[0], i = w.shape[1], k = w.shape[2]
        var config: [String: Any] = [
            "kernel_size": [k, k], "strides": [stride, stride], "padding": padding, "data_format": "channels_last",
            "dilation_rate": [1, 1], "activation": "linear", "use_bias": bias != nil, "bias_initializer": Self.zeros,
            "bias_regularizer": NSNull(), "activity_regularizer": NSNull(), "bias_constraint": NSNull(),
        ]
        if depthwise {
            config["depth_multiplier"] = 1
            config["depthwise_initializer"] = Self.initializerVS
            config["depthwise_regularizer"] = NSNull()
            config["depthwise_constraint"] = NSNull()
            add("DepthwiseConv2D", name, config)
            // torch's [channels, 1, k, k] is OIHW with one output and `channels` inputs.
            weight("\(name)/depthwise_kernel", [k, k, o, 1], ConvolutionWeights.hwio(fromOIHW: w.values, kernel: k, inputs: o, outputs: 1))
            if let bias { weight("\(name)/bias", [o], bias) }  // Keras's name, as for Conv2D
        } else {
            config["filters"] = o
            config["kernel_initializer"] = Self.initializerVS
            config["kernel_regularizer"] = NSNull()
            config["kernel_constraint"] = NSNull()
            add("Conv2D", name, config)
            weight("\(name)/kernel", [k, k, i, o], ConvolutionWeights.hwio(fromOIHW: w.values, kernel: k, inputs: i, outputs: o))
            if let bias { weight("\(name)/bias", [o], bias) }
        }
    }

    mutating func batchNorm(_ name: String, from store: NamedTensors, prefix: String, channels: Int) throws {
        add("BatchNormalization", name, [
            "axis": -1, "momentum": 0.999, "epsilon": Double(FoldedConvolution.batchNormEpsilon), "center": true, "scale": true,
            "beta_initializer": Self.zeros, "gamma_initializer": Self.ones, "moving_mean_initializer": Self.zeros,
            "moving_variance_initializer": Self.ones, "beta_regularizer": NSNull(), "gamma_regularizer": NSNull(),
            "beta_constraint": NSNull(), "gamma_constraint": NSNull(),
        ])
        for (param, torchName) in [("gamma", "weight"), ("beta", "bias"), ("moving_mean", "running_mean"),
                                   ("moving_variance", "running_var")] {
            weight("\(name)/\(param)", [channels], try store.tensor("\(prefix).\(torchName)", shape: [channels]).values)
        }
    }

    mutating func relu6(_ name: String) { add("ReLU", name, ["max_value": 6]) }

    /// The backbone, named as Keras's MobileNetV2 names its layers.
    mutating func build(weights store: NamedTensors, normalization n: ChannelNormalization, size: Int) throws {
        input(normalization: n, size: size)
        try modules(MobileNetV2Architecture.standard.moduleNumbers, weights: store)
    }

    /// The input layer and the normalisation from Teachable Machine's input.
    mutating func input(normalization n: ChannelNormalization, size: Int) {
        layers.append(["name": "input_1", "class_name": "InputLayer", "inbound_nodes": [[Any]](),
                       "config": ["batch_input_shape": [NSNull(), size, size, 3], "dtype": "float32", "sparse": false,
                                  "name": "input_1"]])
        // x/127.5 - 1 (Teachable Machine) -> (x/255 - mean)/std: per channel a*t + b.
        let a = (0..<3).map { 1 / (2 * n.std[$0]) }, b = (0..<3).map { (0.5 - n.mean[$0]) / n.std[$0] }
        conv("input_normalization", oihw: Tensor(shape: [3, 1, 1, 1], values: a), stride: 1, padding: "valid",
             depthwise: true, bias: b)
    }

    /// MobileNetV2's feature modules `range` (0: the stem, 1-17: the inverted residual blocks,
    /// 18: the final 1x1 convolution) from `store` (torch names), each layer named as Keras's
    /// MobileNetV2 names it, plus `suffix`.
    mutating func modules(_ range: ClosedRange<Int>, weights store: NamedTensors, suffix: String = "") throws {
        // Torch pads a strided 3x3 convolution by one on every side: ZeroPadding2D(1) then "valid".
        // (Keras's own MobileNetV2 pads only after, with other weights.)
        func unit(_ u: MobileNetV2Architecture.ConvUnit, _ name: String, bn: String, relu: String?, padName: String) throws {
            let s = u.spec
            let w = try store.tensor(u.weight, shape: [s.outputChannels, s.inputChannels / s.groups, s.kernel, s.kernel])
            var padding = "same"
            if s.kernel == 3 && s.stride == 2 {
                pad(padName + suffix, 1)
                padding = "valid"
            }
            conv(name + suffix, oihw: w, stride: s.stride, padding: padding, depthwise: s.groups > 1)
            try batchNorm(bn + suffix, from: store, prefix: u.batchNorm, channels: s.outputChannels)
            if let relu { relu6(relu + suffix) }
        }
        for module in try MobileNetV2Architecture.standard.modules(range) {
            switch module.kind {
            case .stem: try unit(module.units[0], "Conv1", bn: "bn_Conv1", relu: "Conv1_relu", padName: "Conv1_pad")
            case .head: try unit(module.units[0], "Conv_1", bn: "Conv_1_bn", relu: "out_relu", padName: "")
            case .block:
                // Keras's MobileNetV2 names: expanded_conv, then block_1 ... block_16.
                let p = module.blockNumber == 0 ? "expanded_conv" : "block_\(module.blockNumber)"
                let blockInput = last
                for (k, u) in module.units.enumerated() {
                    if u.spec.groups > 1 {
                        try unit(u, "\(p)_depthwise", bn: "\(p)_depthwise_BN", relu: "\(p)_depthwise_relu", padName: "\(p)_pad")
                    } else if k == module.units.count - 1 {
                        try unit(u, "\(p)_project", bn: "\(p)_project_BN", relu: nil, padName: "")
                    } else {
                        try unit(u, "\(p)_expand", bn: "\(p)_expand_BN", relu: "\(p)_expand_relu", padName: "")
                    }
                }
                if module.residual { add("Add", "\(p)_add" + suffix, [:], inputs: [blockInput, last]) }
            }
        }
    }

    /// The whole backbone as the bundle has it: a Teachable Machine backbone as it came in, or
    /// MobileNetV2 from the pretrained weights behind Teachable Machine's input normalisation.
    /// Returns a Teachable Machine backbone's model name.
    mutating func backbone(of bundle: ModelBundle, weightsFolder: String) throws -> String? {
        switch try bundle.backboneKind() {
        case .teachableMachine:
            let source = try TFJSLayersModel.load(try bundle.backboneFilesPath())
            copy(source)
            return source.backboneModelName
        case .pretrainedMobileNetV2:
            try build(weights: try bundle.pretrainedWeights(from: weightsFolder), normalization: try bundle.preprocessing.preprocessor().normalization,
                      size: bundle.preprocessing.size)
            return nil
        }
    }

    /// A model's members as one functional model: the frozen part once (`bundle.cut`), then for
    /// member m its own modules (layer names ending `_m<m>`), global average pooling and head
    /// (dropout is the identity at inference), and an Average of the members' probabilities
    /// (none for a single member).
    mutating func buildEnsemble(_ bundle: ModelBundle, weightsFolder: String) throws {
        let classes = bundle.classes.count
        var base: NamedTensors?
        switch bundle.cut {
        case .wholeBackbone:
            _ = try backbone(of: bundle, weightsFolder: weightsFolder)
        case .mobileNetV2(let through):
            _ = try bundle.architecture()  // refuses a manifest whose input size is not MobileNetV2's
            let weights = try bundle.pretrainedWeights(from: weightsFolder)
            input(normalization: try bundle.preprocessing.preprocessor().normalization, size: bundle.preprocessing.size)
            try modules(0...through, weights: weights)
            base = weights
        }
        let shared = last
        var outputs: [String] = []
        for (m, member) in bundle.members.enumerated() {
            last = shared
            if let (range, weights) = member.trainedModules {
                // Modules' batch norm parameters come from the member; anything else it lacks from the base.
                let store = NamedTensors((base?.tensors ?? [:]).merging(weights.tensors) { _, own in own }, source: "member \(m)")
                try modules(range, weights: store, suffix: "_m\(m)")
            }
            add("GlobalAveragePooling2D", "global_average_pooling2d_m\(m)", ["data_format": "channels_last"])
            switch member.head {
            case .linear(let linear):
                dense("dense_m\(m)", inputs: linear.inputs, units: classes, activation: "softmax", weights: linear.weight, bias: linear.bias)
            case .dense(let head):
                dense("dense1_m\(m)", inputs: head.inputs, units: head.hidden, activation: "relu", weights: head.w1, bias: head.b1)
                dense("dense2_m\(m)", inputs: head.hidden, units: classes, activation: "softmax", weights: head.w2, bias: nil)
            }
            outputs.append(last)
        }
        if outputs.count > 1 { add("Average", "ensemble_average", [:], inputs: outputs) }
    }

    /// A Dense layer of the functional model from torch's `[units, inputs]` weights.
    mutating func dense(_ name: String, inputs: Int, units: Int, activation: String, weights: [Float], bias: [Float]?) {
        var config = Self.denseConfig(name, units: units, activation: activation, bias: bias != nil)["config"] as! [String: Any]
        config.removeValue(forKey: "name")
        add("Dense", name, config)
        weight("\(name)/kernel", [inputs, units], MatrixLayout.transposed(weights, rows: units, columns: inputs))
        if let bias { weight("\(name)/bias", [units], bias) }
    }

    static func denseConfig(_ name: String, units: Int, activation: String, bias: Bool) -> [String: Any] {
        ["class_name": "Dense", "config": [
            "units": units, "activation": activation, "use_bias": bias,
            "kernel_initializer": ["class_name": "VarianceScaling",
                                   "config": ["scale": 1, "mode": "fan_in", "distribution": "normal", "seed": NSNull()]],
            "bias_initializer": Self.zeros, "kernel_regularizer": NSNull(), "bias_regularizer": NSNull(),
            "activity_regularizer": NSNull(), "kernel_constraint": NSNull(), "bias_constraint": NSNull(),
            "name": name, "trainable": true,
        ] as [String: Any]]
    }

    mutating func head(_ h: DenseHead) {
        func denseConfig(_ name: String, units: Int, activation: String, bias: Bool) -> [String: Any] {
            Self.denseConfig(name, units: units, activation: activation, bias: bias)
        }
        var first = denseConfig("dense_Dense1", units: h.hidden, activation: "relu", bias: true)
        var c = first["config"] as! [String: Any]
        c["batch_input_shape"] = [NSNull(), h.inputs]
        c["dtype"] = "float32"
        first["config"] = c
        dense = [first, denseConfig("dense_Dense2", units: h.classes, activation: "softmax", bias: false)]
        weight("dense_Dense1/kernel", [h.inputs, h.hidden], MatrixLayout.transposed(h.w1, rows: h.hidden, columns: h.inputs))
        weight("dense_Dense1/bias", [h.hidden], h.b1)
        weight("dense_Dense2/kernel", [h.hidden, h.classes], MatrixLayout.transposed(h.w2, rows: h.classes, columns: h.hidden))
    }
}
