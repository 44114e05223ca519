import LightboxKernels

extension MobileNetV2Architecture {
    /// The network as a layer graph, from its table and `weights` (torchvision names), batch
    /// norm folded, each residual an explicit `add` (as ONNX and Keras describe it; the
    /// executor fuses them back, `LayerGraph.fusingResidualAdds`). `throughModule` below 18
    /// stops after `features.N` (the frozen part of a fine-tuned network).
    public func layerGraph(weights: NamedTensors, throughModule last: Int = 18) throws -> LayerGraph {
        let layers = self.layers
        var graph = LayerGraph(inputSize: inputSize)
        func add(_ unit: ConvUnit, _ input: Int, _ name: String) throws -> Int {
            let folded = try FoldedConvolution(unit: unit, from: weights)
            var spec = folded.spec
            spec.accumulate = false
            return try graph.append(name, .convolution(spec, weights: folded.weights, bias: folded.bias), inputs: [input])
        }
        var x = try add(layers.stem, LayerGraph.image, "stem")
        for (b, block) in layers.blocks.prefix(last).enumerated() {
            let input = x
            for (u, unit) in block.units.enumerated() { x = try add(unit, x, "block\(b)_\(u)") }
            if block.residual { x = try graph.append("block\(b)_add", .add, inputs: [input, x]) }
        }
        if last >= layers.blocks.count + 1 { _ = try add(layers.head, x, "head") }
        return graph
    }
}
