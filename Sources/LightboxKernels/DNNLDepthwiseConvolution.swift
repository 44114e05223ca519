import CDNNL
import Foundation

/// The trainable 3x3 depthwise convolution (padding 1, no bias) on oneDNN: forward pass and
/// input and weight gradients for one fixed shape, NHWC activations, torch's `[channels, 1, 3, 3]`
/// weights passed at every call (they change every step). oneDNN's primitives measured faster
/// than hand-written loops on the trained modules' shapes (bench/kernels_vs_onednn.c,
/// BENCHMARKS.md). Safe to call from several threads: calls on one instance take turns.
public final class DNNLDepthwiseConvolution: @unchecked Sendable {
    public let batch: Int, side: Int, channels: Int, stride: Int
    public var outputSide: Int { (side + 2 - 3) / stride + 1 }

    /// A primitive and its arguments; the caller's buffers are bound to `bound` memories per call.
    private struct Step {
        let primitive: dnnl_primitive_t
        var args: [dnnl_exec_arg_t]
    }
    private let forwardStep: Step, dataStep: Step, weightsStep: Step
    /// Reorders of torch-layout weights into the layouts the primitives want, and of the weight
    /// gradient back (none where the layouts already agree).
    private let weightReorders: [Step], gradientReorders: [Step]
    private let input: dnnl_memory_t, output: dnnl_memory_t, outputGradient: dnnl_memory_t, inputGradient: dnnl_memory_t
    private let userWeights: dnnl_memory_t, userWeightGradient: dnnl_memory_t
    private let owned: [dnnl_memory_t]
    private let primitives: [dnnl_primitive_t]
    private let stream: DNNLStream
    private let lock = NSLock()

    public init(batch: Int, side: Int, channels: Int, stride: Int) throws {
        let ctx = DNNL.shared
        self.batch = batch
        self.side = side
        self.channels = channels
        self.stride = stride
        let out = (side + 2 - 3) / stride + 1
        let srcMD = try DNNL.descriptor([batch, channels, side, side], dnnl_nhwc)
        let dstMD = try DNNL.descriptor([batch, channels, out, out], dnnl_nhwc)
        let userWeightsMD = try DNNL.descriptor([channels, 1, 1, 3, 3], dnnl_goihw)
        let anyWeightsMD = try DNNL.descriptor([channels, 1, 1, 3, 3], dnnl_format_tag_any)

        var attr: dnnl_primitive_attr_t?
        try DNNL.check(dnnl_primitive_attr_create(&attr), "attributes")
        defer { dnnl_primitive_attr_destroy(attr) }
        // Own scratchpads: the library's shared one is not safe when two threads run primitives.
        try DNNL.check(dnnl_primitive_attr_set_scratchpad_mode(attr, dnnl_scratchpad_mode_user), "scratchpad mode")

        var forward = dnnl_convolution_desc_t(), data = dnnl_convolution_desc_t(), weights = dnnl_convolution_desc_t()
        var s = srcMD, w = anyWeightsMD, d = dstMD
        let status = DNNL.withDims(DNNL.dims64([stride, stride])) { strides in
            DNNL.withDims(DNNL.dims64([1, 1])) { pad in
                [dnnl_convolution_forward_desc_init(&forward, dnnl_forward_training, dnnl_convolution_direct, &s, &w, nil, &d,
                                                    strides, pad, pad),
                 dnnl_convolution_backward_data_desc_init(&data, dnnl_convolution_direct, &s, &w, &d, strides, pad, pad),
                 dnnl_convolution_backward_weights_desc_init(&weights, dnnl_convolution_direct, &s, &w, nil, &d, strides, pad, pad)]
            }
        }
        for st in status { try DNNL.check(st, "depthwise convolution descriptors") }
        var forwardPD: dnnl_primitive_desc_t?, dataPD: dnnl_primitive_desc_t?, weightsPD: dnnl_primitive_desc_t?
        try DNNL.check(DNNL.describe { withUnsafePointer(to: &forward) { dnnl_primitive_desc_create(&forwardPD, $0, attr, ctx.engine, nil) } },
                       "depthwise forward")
        defer { dnnl_primitive_desc_destroy(forwardPD) }
        try DNNL.check(DNNL.describe { withUnsafePointer(to: &data) { dnnl_primitive_desc_create(&dataPD, $0, attr, ctx.engine, forwardPD) } },
                       "depthwise backward data")
        defer { dnnl_primitive_desc_destroy(dataPD) }
        try DNNL.check(DNNL.describe { withUnsafePointer(to: &weights) { dnnl_primitive_desc_create(&weightsPD, $0, attr, ctx.engine, forwardPD) } },
                       "depthwise backward weights")
        defer { dnnl_primitive_desc_destroy(weightsPD) }

        // The caller's buffers: memories without a handle until each call.
        let input = try ctx.memory(srcMD, nil), output = try ctx.memory(dstMD, nil)
        let outputGradient = try ctx.memory(dstMD, nil), inputGradient = try ctx.memory(srcMD, nil)
        let userWeights = try ctx.memory(userWeightsMD, nil), userWeightGradient = try ctx.memory(userWeightsMD, nil)
        var owned = [input, output, outputGradient, inputGradient, userWeights, userWeightGradient]
        var primitives: [dnnl_primitive_t] = []

        // Weights in each primitive's layout; the forward and data primitives may share one.
        var reorders: [Step] = []
        var weightsIn: [(dnnl_memory_desc_t, dnnl_memory_t)] = []
        func weightsMemory(for pd: dnnl_primitive_desc_t?) throws -> dnnl_memory_t {
            var md = dnnl_primitive_desc_query_md(pd, dnnl_query_weights_md, 0)!.pointee
            var user = userWeightsMD
            if dnnl_memory_desc_equal(&md, &user) != 0 { return userWeights }
            if let (_, m) = weightsIn.first(where: { var known = $0.0; return dnnl_memory_desc_equal(&known, &md) != 0 }) { return m }
            let memory = try ctx.ownedMemory(md)
            owned.append(memory)
            weightsIn.append((md, memory))
            reorders.append(try reorder(userWeightsMD, from: userWeights, to: md, memory))
            return memory
        }
        func reorder(_ fromMD: dnnl_memory_desc_t, from: dnnl_memory_t, to toMD: dnnl_memory_desc_t, _ to: dnnl_memory_t) throws -> Step {
            let (primitive, scratchpad) = try ctx.reorderPrimitive(fromMD, toMD)
            primitives.append(primitive)
            var args = [dnnl_exec_arg_t(arg: DNNL_ARG_FROM, memory: from), dnnl_exec_arg_t(arg: DNNL_ARG_TO, memory: to)]
            if let scratchpad {
                owned.append(scratchpad)
                args.append(dnnl_exec_arg_t(arg: DNNL_ARG_SCRATCHPAD, memory: scratchpad))
            }
            return Step(primitive: primitive, args: args)
        }
        func step(_ pd: dnnl_primitive_desc_t?, _ args: [dnnl_exec_arg_t]) throws -> Step {
            var prim: dnnl_primitive_t?
            try DNNL.check(dnnl_primitive_create(&prim, pd), "depthwise primitive")
            primitives.append(prim!)
            let scratchpad = try ctx.ownedMemory(dnnl_primitive_desc_query_md(pd, dnnl_query_scratchpad_md, 0)!.pointee)
            owned.append(scratchpad)
            return Step(primitive: prim!, args: args + [dnnl_exec_arg_t(arg: DNNL_ARG_SCRATCHPAD, memory: scratchpad)])
        }

        forwardStep = try step(forwardPD, [dnnl_exec_arg_t(arg: DNNL_ARG_SRC, memory: input),
                                           dnnl_exec_arg_t(arg: DNNL_ARG_WEIGHTS, memory: try weightsMemory(for: forwardPD)),
                                           dnnl_exec_arg_t(arg: DNNL_ARG_DST, memory: output)])
        dataStep = try step(dataPD, [dnnl_exec_arg_t(arg: DNNL_ARG_DIFF_DST, memory: outputGradient),
                                     dnnl_exec_arg_t(arg: DNNL_ARG_WEIGHTS, memory: try weightsMemory(for: dataPD)),
                                     dnnl_exec_arg_t(arg: DNNL_ARG_DIFF_SRC, memory: inputGradient)])
        var gradientMD = dnnl_primitive_desc_query_md(weightsPD, dnnl_query_diff_weights_md, 0)!.pointee
        var user = userWeightsMD
        var gradientMemory = userWeightGradient
        var back: [Step] = []
        if dnnl_memory_desc_equal(&gradientMD, &user) == 0 {
            gradientMemory = try ctx.ownedMemory(gradientMD)
            owned.append(gradientMemory)
            back.append(try reorder(gradientMD, from: gradientMemory, to: userWeightsMD, userWeightGradient))
        }
        weightsStep = try step(weightsPD, [dnnl_exec_arg_t(arg: DNNL_ARG_SRC, memory: input),
                                           dnnl_exec_arg_t(arg: DNNL_ARG_DIFF_DST, memory: outputGradient),
                                           dnnl_exec_arg_t(arg: DNNL_ARG_DIFF_WEIGHTS, memory: gradientMemory)])
        weightReorders = reorders
        gradientReorders = back
        (self.input, self.output, self.outputGradient, self.inputGradient) = (input, output, outputGradient, inputGradient)
        (self.userWeights, self.userWeightGradient) = (userWeights, userWeightGradient)
        self.owned = owned
        self.primitives = primitives
        stream = try DNNLStream()
    }

    deinit {
        for p in primitives { dnnl_primitive_destroy(p) }
        for m in owned { dnnl_memory_destroy(m) }
    }

    /// Writes the convolution of `x` (`[batch, side, side, channels]`) to `y`
    /// (`[batch, outputSide, outputSide, channels]`, overwritten).
    public func forward(_ x: UnsafePointer<Float>, weights: UnsafePointer<Float>, output y: UnsafeMutablePointer<Float>) throws {
        lock.lock()
        defer { lock.unlock() }
        try bind(input, x)
        try bind(userWeights, weights)
        try bind(output, y)
        try execute(weightReorders + [forwardStep])
    }

    /// Overwrites `inputGradient` (`[batch, side, side, channels]`) and `weightGradient`
    /// (`[channels, 1, 3, 3]`) from the output gradient, the forward input and the weights.
    public func backward(outputGradient dy: UnsafePointer<Float>, input x: UnsafePointer<Float>, weights: UnsafePointer<Float>,
                         inputGradient dx: UnsafeMutablePointer<Float>, weightGradient dw: UnsafeMutablePointer<Float>) throws {
        lock.lock()
        defer { lock.unlock() }
        try bind(outputGradient, dy)
        try bind(input, x)
        try bind(userWeights, weights)
        try bind(inputGradient, dx)
        try bind(userWeightGradient, dw)
        try execute(weightReorders + [dataStep, weightsStep] + gradientReorders)
    }

    /// oneDNN takes non-const handles; it does not write the inputs.
    private func bind(_ memory: dnnl_memory_t, _ pointer: UnsafePointer<Float>) throws {
        try DNNL.check(dnnl_memory_set_data_handle(memory, UnsafeMutableRawPointer(mutating: pointer)), "memory handle")
    }

    private func execute(_ steps: [Step]) throws {
        for var step in steps {
            try DNNL.check(dnnl_primitive_execute(step.primitive, stream.stream, Int32(step.args.count), &step.args), "depthwise convolution")
        }
        try DNNL.check(dnnl_stream_wait(stream.stream), "stream wait")
    }
}
