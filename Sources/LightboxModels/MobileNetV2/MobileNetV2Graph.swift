import LightboxKernels

extension MobileNetV2Architecture {
    /// The network as a layer graph, from its table and `weights` (torchvision names), batch
    /// norm folded, each residual an explicit `add` (as ONNX and Keras describe it; the
    /// executor fuses them back, `LayerGraph.fusingResidualAdds`). `throughModule` (nil: the
    /// last) stops after `features.N` (the frozen part of a fine-tuned network).
    public func layerGraph(weights: NamedTensors, throughModule last: Int? = nil) throws -> LayerGraph {
        var graph = LayerGraph(inputSize: inputSize)
        _ = try appendModules(0...(last ?? moduleNumbers.upperBound), weights: weights, to: &graph, after: LayerGraph.image)
        return graph
    }

    /// Appends feature modules `range` (0: the stem, 1-17: the inverted residual blocks, 18: the
    /// final 1x1 convolution) with `weights` (torch names, batch norm folded) to `graph` after
    /// node `input`; node names start with `prefix`. Returns the last node. Cutting the network
    /// anywhere (the frozen part of a fine-tuned model, then each member's trained modules) is
    /// two calls of this on the one table.
    public func appendModules(_ range: ClosedRange<Int>, weights: NamedTensors, to graph: inout LayerGraph, after input: Int,
                              prefix: String = "") throws -> Int {
        func add(_ unit: ConvUnit, _ input: Int, _ name: String) throws -> Int {
            let folded = try FoldedConvolution(unit: unit, from: weights)
            var spec = folded.spec
            spec.accumulate = false
            return try graph.append(prefix + name, .convolution(spec, weights: folded.weights, bias: folded.bias), inputs: [input])
        }
        var x = input
        for module in try modules(range) {
            switch module.kind {
            case .stem: x = try add(module.units[0], x, "stem")
            case .head: x = try add(module.units[0], x, "head")
            case .block:
                let blockInput = x, b = module.blockNumber
                for (u, unit) in module.units.enumerated() { x = try add(unit, x, "block\(b)_\(u)") }
                if module.residual { x = try graph.append(prefix + "block\(b)_add", .add, inputs: [blockInput, x]) }
            }
        }
        return x
    }
}
