import LightboxKernels

extension MobileNetV2Architecture {
    /// The network as a layer graph, from its table and `weights` (torchvision names), batch
    /// norm folded, each residual an explicit `add` (as ONNX and Keras describe it; the
    /// executor fuses them back, `LayerGraph.fusingResidualAdds`). `throughModule` below 18
    /// stops after `features.N` (the frozen part of a fine-tuned network).
    public func layerGraph(weights: NamedTensors, throughModule last: Int = 18) throws -> LayerGraph {
        var graph = LayerGraph(inputSize: inputSize)
        _ = try appendModules(0...last, weights: weights, to: &graph, after: LayerGraph.image)
        return graph
    }

    /// Appends feature modules `range` (0: the stem, 1-17: the inverted residual blocks, 18: the
    /// final 1x1 convolution) with `weights` (torch names, batch norm folded) to `graph` after
    /// node `input`; node names start with `prefix`. Returns the last node. Cutting the network
    /// anywhere (the frozen part of a fine-tuned model, then each member's trained modules) is
    /// two calls of this on the one table.
    public func appendModules(_ range: ClosedRange<Int>, weights: NamedTensors, to graph: inout LayerGraph, after input: Int,
                              prefix: String = "") throws -> Int {
        let layers = self.layers
        guard range.lowerBound >= 0, range.upperBound <= layers.blocks.count + 1 else {
            throw WeightsError("MobileNetV2 has feature modules 0-\(layers.blocks.count + 1), not \(range)")
        }
        func add(_ unit: ConvUnit, _ input: Int, _ name: String) throws -> Int {
            let folded = try FoldedConvolution(unit: unit, from: weights)
            var spec = folded.spec
            spec.accumulate = false
            return try graph.append(prefix + name, .convolution(spec, weights: folded.weights, bias: folded.bias), inputs: [input])
        }
        var x = input
        if range.contains(0) { x = try add(layers.stem, x, "stem") }
        for (b, block) in layers.blocks.enumerated() where range.contains(b + 1) {
            let blockInput = x
            for (u, unit) in block.units.enumerated() { x = try add(unit, x, "block\(b)_\(u)") }
            if block.residual { x = try graph.append(prefix + "block\(b)_add", .add, inputs: [blockInput, x]) }
        }
        if range.contains(layers.blocks.count + 1) { x = try add(layers.head, x, "head") }
        return x
    }
}
