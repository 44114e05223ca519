import LightboxCore
import CDNNL

/// What a 2-D convolution layer computes, independent of any kernel library.
public struct ConvolutionSpec: Sendable, Equatable {
    public enum Activation: Sendable, Equatable { case none, relu, relu6 }

    public var inputChannels: Int
    public var outputChannels: Int
    public var kernel: Int
    public var stride: Int
    /// Zero padding before the first row and column.
    public var padding: Int
    /// Zero padding after the last row and column (TensorFlow pads "same" convolutions with
    /// stride 2 and explicit ZeroPadding2D layers asymmetrically); nil means `padding`.
    public var paddingEnd: Int?
    /// `inputChannels` for a depthwise convolution, 1 for a dense one.
    public var groups: Int
    public var activation: Activation
    /// Adds the destination's previous contents (a residual connection) before writing.
    public var accumulate: Bool

    public init(inputChannels: Int, outputChannels: Int, kernel: Int, stride: Int = 1, padding: Int = 0,
                groups: Int = 1, activation: Activation = .none, accumulate: Bool = false) {
        self.inputChannels = inputChannels
        self.outputChannels = outputChannels
        self.kernel = kernel
        self.stride = stride
        self.padding = padding
        self.groups = groups
        self.activation = activation
        self.accumulate = accumulate
    }

    public func outputSize(_ input: Int) -> Int { (input + padding + (paddingEnd ?? padding) - kernel) / stride + 1 }

    /// A 1x1 dense convolution (a matrix product per picture): the only kind that runs in
    /// bf16. They hold about 90% of MobileNetV2's multiply-adds; the depthwise 3x3 and the
    /// 3-channel stem are memory-bound or tiny and stay fp32 (as in fine-tuning's trained modules).
    public var isPointwise: Bool { kernel == 1 && groups == 1 && stride == 1 && padding == 0 && (paddingEnd ?? 0) == 0 }
}

/// One convolution bound to its input and output buffers (NHWC, float32) for a fixed
/// batch size and input size: built once, then `run()` as often as needed.
/// Weights arrive in torch's OIHW layout (per group) with a bias, and are reordered
/// once into whatever layout oneDNN's fastest kernel for this shape wants.
/// In bf16 (pointwise convolutions only, `ConvolutionSpec.isPointwise`) the weights are rounded
/// to bf16 once and each run first rounds the source into the convolution's own buffer (bf16
/// bits for the native kernels, bf16 values as floats for the emulation); bias, accumulation,
/// residual sum, activation and destination stay float32.
public final class DNNLConvolution {
    public let spec: ConvolutionSpec
    public let outputHeight: Int
    public let outputWidth: Int

    /// What this convolution computes in (fp32 for all but pointwise convolutions).
    public let arithmetic: Arithmetic
    /// Which oneDNN implementation runs it (e.g. `brgconv_1x1:avx512_core_bf16`).
    public let implementation: String

    private let primitive: dnnl_primitive_t
    private let memories: [dnnl_memory_t]
    private var args: [dnnl_exec_arg_t]
    /// The caller's source, and the rounded copy the primitive reads in bf16 (else nil).
    private let source: UnsafeMutablePointer<Float>
    private let sourceCount: Int
    private let roundedSource: BF16Operand?

    public init(spec: ConvolutionSpec, weights: [Float], bias: [Float],
                batch: Int, inputHeight: Int, inputWidth: Int,
                source: UnsafeMutablePointer<Float>, destination: UnsafeMutablePointer<Float>,
                arithmetic requested: Arithmetic = .fp32) throws {
        let ctx = DNNL.shared
        let g = spec.groups
        precondition(spec.inputChannels % g == 0 && spec.outputChannels % g == 0)
        let weightDims = g == 1
            ? [spec.outputChannels, spec.inputChannels, spec.kernel, spec.kernel]
            : [g, spec.outputChannels / g, spec.inputChannels / g, spec.kernel, spec.kernel]
        precondition(weights.count == weightDims.reduce(1, *), "weights do not match \(weightDims)")
        precondition(bias.count == spec.outputChannels)

        self.spec = spec
        outputHeight = spec.outputSize(inputHeight)
        outputWidth = spec.outputSize(inputWidth)
        arithmetic = spec.isPointwise ? requested : .fp32
        let native = arithmetic == .bf16
        self.source = source
        sourceCount = batch * spec.inputChannels * inputHeight * inputWidth
        roundedSource = arithmetic.isBF16 ? BF16Operand(count: sourceCount, kernels: arithmetic.kernels) : nil

        let srcMD = try DNNL.descriptor([batch, spec.inputChannels, inputHeight, inputWidth], dnnl_nhwc, native ? dnnl_bf16 : dnnl_f32)
        let dstMD = try DNNL.descriptor([batch, spec.outputChannels, outputHeight, outputWidth], dnnl_nhwc)
        let userWeightsMD = try DNNL.descriptor(weightDims, g == 1 ? dnnl_oihw : dnnl_goihw)
        let anyWeightsMD = try DNNL.descriptor(weightDims, dnnl_format_tag_any, native ? dnnl_bf16 : dnnl_f32)
        let biasMD = try DNNL.descriptor([spec.outputChannels], dnnl_x)

        var desc = dnnl_convolution_desc_t()
        var s = srcMD, w = anyWeightsMD, b = biasMD, d = dstMD
        let status = DNNL.withDims(DNNL.dims64([spec.stride, spec.stride])) { stride in
            DNNL.withDims(DNNL.dims64([spec.padding, spec.padding])) { padBegin in
                DNNL.withDims(DNNL.dims64([spec.paddingEnd ?? spec.padding, spec.paddingEnd ?? spec.padding])) { padEnd in
                    dnnl_convolution_forward_desc_init(&desc, dnnl_forward_inference, dnnl_convolution_direct,
                                                       &s, &w, &b, &d, stride, padBegin, padEnd)
                }
            }
        }
        try DNNL.check(status, "convolution descriptor")

        let attr = try DNNL.attributes(sum: spec.accumulate, activation: spec.activation)
        defer { dnnl_primitive_attr_destroy(attr) }

        var pd: dnnl_primitive_desc_t?
        try DNNL.check(DNNL.describe { withUnsafePointer(to: &desc) { dnnl_primitive_desc_create(&pd, $0, attr, ctx.engine, nil) } },
                       "convolution primitive descriptor \(spec)")
        defer { dnnl_primitive_desc_destroy(pd) }
        let chosenWeightsMD = dnnl_primitive_desc_query_md(pd, dnnl_query_weights_md, 0)!.pointee
        implementation = DNNL.implementation(pd)

        var prim: dnnl_primitive_t?
        try DNNL.check(dnnl_primitive_create(&prim, pd), "convolution primitive")
        primitive = prim!

        // Weights and bias: copied into memory oneDNN owns, in its chosen layout (and type: the
        // reorder of bf16-valued floats into bf16 is exact).
        var userWeights = arithmetic.isBF16 ? BF16Rounding.rounded(weights) : weights
        let weightsMemory = try ctx.ownedMemory(chosenWeightsMD)
        try userWeights.withUnsafeMutableBytes { raw in
            let user = try ctx.memory(userWeightsMD, raw.baseAddress!)
            defer { dnnl_memory_destroy(user) }
            try ctx.reorder(user, userWeightsMD, to: weightsMemory, chosenWeightsMD)
        }
        let biasMemory = try ctx.ownedMemory(biasMD)
        var handle: UnsafeMutableRawPointer?
        try DNNL.check(dnnl_memory_get_data_handle(biasMemory, &handle), "bias handle")
        bias.withUnsafeBytes { handle!.copyMemory(from: $0.baseAddress!, byteCount: $0.count) }

        let src = try ctx.memory(srcMD, roundedSource?.raw ?? UnsafeMutableRawPointer(source))
        let dst = try ctx.memory(dstMD, UnsafeMutableRawPointer(destination))
        let scratchpad = try ctx.ownedMemory(dnnl_primitive_desc_query_md(pd, dnnl_query_scratchpad_md, 0)!.pointee)
        memories = [src, weightsMemory, biasMemory, dst, scratchpad]
        args = [
            dnnl_exec_arg_t(arg: DNNL_ARG_SCRATCHPAD, memory: scratchpad),
            dnnl_exec_arg_t(arg: DNNL_ARG_SRC, memory: src),
            dnnl_exec_arg_t(arg: DNNL_ARG_WEIGHTS, memory: weightsMemory),
            dnnl_exec_arg_t(arg: DNNL_ARG_BIAS, memory: biasMemory),
            dnnl_exec_arg_t(arg: DNNL_ARG_DST, memory: dst),
        ]
    }

    deinit {
        dnnl_primitive_destroy(primitive)
        for m in memories { dnnl_memory_destroy(m) }
    }

    /// Computes the convolution on `stream`; returns when the output is written.
    public func run(on stream: DNNLStream) throws {
        roundedSource?.fill(from: source, count: sourceCount)
        try DNNL.check(dnnl_primitive_execute(primitive, stream.stream, Int32(args.count), &args), "convolution")
        try DNNL.check(dnnl_stream_wait(stream.stream), "stream wait")
    }
}
