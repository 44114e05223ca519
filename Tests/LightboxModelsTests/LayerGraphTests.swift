import LightboxCore
import LightboxKernels
import XCTest
@testable import LightboxModels

/// The one graph executor: residual additions fused into the convolution before them give
/// the same numbers as the additions run on their own (in place when nothing else reads the
/// residual, on a copy when something does).
final class LayerGraphTests: XCTestCase {
    /// A 1x1 (or `kernel` x `kernel`, same-size) convolution with seeded weights.
    func pointwise(_ input: Int, _ output: Int, _ generator: inout SeededGenerator, kernel: Int = 1,
                   activation: ConvolutionSpec.Activation = .none) -> LayerGraph.Operation {
        .convolution(ConvolutionSpec(inputChannels: input, outputChannels: output, kernel: kernel, padding: kernel / 2,
                                     activation: activation),
                     weights: (0..<(input * output * kernel * kernel)).map { _ in Float(generator.uniform(-0.5...0.5)) },
                     bias: (0..<output).map { _ in Float(generator.uniform(-0.1...0.1)) })
    }

    /// stem -> expand -> project (+ stem) -> tail, the stem read once more before the tail when `reuse`.
    /// `separate` keeps the projection and the sum apart (an identity activation between them).
    func graph(reuse: Bool, separate: Bool) throws -> LayerGraph {
        var g = SeededGenerator(seed: 7, stream: "layer-graph-test")
        var graph = LayerGraph(inputSize: 8)
        let stem = try graph.append("stem", pointwise(3, 6, &g, activation: .relu6), inputs: [LayerGraph.image])
        let expand = try graph.append("expand", pointwise(6, 2, &g, activation: .relu6), inputs: [stem])
        var project = try graph.append("project", pointwise(2, 6, &g), inputs: [expand])
        if separate { project = try graph.append("identity", .activation(.none), inputs: [project]) }
        let sum = try graph.append("sum", .add, inputs: [stem, project])
        let last = reuse ? try graph.append("again", .add, inputs: [sum, stem]) : sum
        // A later layer needs a buffer as large as the sum's (the expansion's is smaller): it
        // would take the sum's, were that wrongly freed, and overwrite its own input (3x3: each
        // output reads its neighbours).
        try graph.append("tail", pointwise(6, 6, &g, kernel: 3, activation: .relu), inputs: [last])
        return graph
    }

    func embeddings(_ graph: LayerGraph) throws -> [Float] {
        var g = SeededGenerator(seed: 1, stream: "layer-graph-input")
        let input = (0..<(2 * 8 * 8 * 3)).map { _ in Float(g.uniform(-1...1)) }
        let network = try GraphNetwork(graph: graph, parallelism: 1)
        return try input.withUnsafeBufferPointer { try network.forward($0.baseAddress!, batch: 2, outputs: [.featureMap]) }.featureMap!
    }

    func testFusedResidualsEqualSeparateAdditions() throws {
        for reuse in [false, true] {
            let fused = try graph(reuse: reuse, separate: false)
            XCTAssertEqual(try fused.fusingResidualAdds().nodes.count, fused.nodes.count - 1, "the projection absorbs the sum")
            let separate = try graph(reuse: reuse, separate: true)
            XCTAssertEqual(try separate.fusingResidualAdds().nodes.count, separate.nodes.count, "nothing to fuse")
            let a = try embeddings(fused), b = try embeddings(separate)
            XCTAssertEqual(a.count, b.count)
            for (x, y) in zip(a, b) { XCTAssertEqual(x, y, accuracy: 1e-5, "reuse \(reuse)") }
        }
    }

    func testAResidualOfTheWrongShapeIsRefused() throws {
        var g = SeededGenerator(seed: 3, stream: "layer-graph-test")
        var graph = LayerGraph(inputSize: 4)
        let a = try graph.append("a", pointwise(3, 5, &g), inputs: [LayerGraph.image])
        guard case .convolution(var spec, let w, let b) = pointwise(5, 4, &g) else { return XCTFail() }
        spec.accumulate = true
        XCTAssertThrowsError(try graph.append("b", .convolution(spec, weights: w, bias: b), inputs: [a, a])) {
            XCTAssertTrue("\($0)".contains("residual"), "\($0)")
        }
    }

    /// A graph from a hostile file: a convolution no kernel could run (a zero or negative stride
    /// used to divide by zero: SIGFPE), weights of another size, or activations past
    /// `maxActivationValues` (an input of 100,000 pixels a side used to abort on the allocation)
    /// is refused when it is appended, naming the layer.
    func testImpossibleConvolutionsAndHugeActivationsAreRefused() throws {
        var g = SeededGenerator(seed: 5, stream: "layer-graph-test")
        guard case .convolution(let spec, let w, let b) = pointwise(3, 4, &g, kernel: 3) else { return XCTFail() }
        for (name, change) in [("zero stride", { (s: inout ConvolutionSpec) in s.stride = 0 }),
                               ("negative stride", { $0.stride = -2 }),
                               ("zero kernel", { $0.kernel = 0 }),
                               ("negative padding", { $0.paddingEnd = -5 }),
                               ("groups", { $0.groups = 2 })] {
            var bad = spec
            change(&bad)
            var graph = LayerGraph(inputSize: 8)
            XCTAssertThrowsError(try graph.append("c", .convolution(bad, weights: w, bias: b), inputs: [LayerGraph.image]), name) {
                XCTAssertTrue("\($0)".hasPrefix("layer 'c': "), "\(name): \($0)")
            }
        }
        var graph = LayerGraph(inputSize: 8)
        XCTAssertThrowsError(try graph.append("c", .convolution(spec, weights: Array(w.dropLast()), bias: b), inputs: [LayerGraph.image])) {
            XCTAssertTrue("\($0)".contains("do not fit the convolution"), "\($0)")
        }
        var huge = LayerGraph(inputSize: 100_000)
        XCTAssertThrowsError(try huge.append("c", .convolution(spec, weights: w, bias: b), inputs: [LayerGraph.image])) {
            XCTAssertTrue("\($0)".contains("exceed"), "\($0)")
        }
        // Wide enough layers run past the bound together, each one under it.
        var wide = LayerGraph(inputSize: 512)
        var last = LayerGraph.image, channels = 3
        XCTAssertThrowsError(try {
            for k in 0..<64 {
                guard case .convolution(let s, let w, let b) = pointwise(channels, 512, &g) else { return }
                last = try wide.append("wide\(k)", .convolution(s, weights: w, bias: b), inputs: [last])
                channels = 512
            }
        }()) { XCTAssertTrue("\($0)".contains("exceed"), "\($0)") }
    }
}
