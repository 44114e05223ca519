import LightboxCore
import CDNNL
import Foundation

/// Row-major matrix products `C = op(A) op(B) + beta C` with bf16 operands and float32 sums
/// and result: fine-tuning's 1x1 convolutions, forward and backward, in bf16.
/// `.native`: oneDNN's matmul on bf16 copies of A and B (the `brg:avx512_core_bf16` kernels;
/// oneDNN 2.6 has no public bf16 gemm call). `.emulated`: the fp32 sgemm on bf16-rounded copies.
enum BF16Products {
    static func rowMajor(transposeA: Bool, transposeB: Bool, m: Int, n: Int, k: Int, a: UnsafePointer<Float>,
                         b: UnsafePointer<Float>, beta: Float, c: UnsafeMutablePointer<Float>, kernels: Arithmetic.Kernels) {
        precondition(beta == 0 || beta == 1, "bf16 products overwrite or add")
        if kernels == .native {
            // A shape oneDNN refused once (not seen after the self-check passed) is not tried
            // again: its products are computed with the emulation, the same values.
            if (try? native(transposeA: transposeA, transposeB: transposeB, m: m, n: n, k: k, a: a, b: b, beta: beta, c: c)) != nil {
                return
            }
        }
        let roundedA = BF16Operand(count: m * k, kernels: .emulated), roundedB = BF16Operand(count: k * n, kernels: .emulated)
        roundedA.fill(from: a, count: m * k)
        roundedB.fill(from: b, count: k * n)
        GEMM.rowMajor(transposeA: transposeA, transposeB: transposeB, m: m, n: n, k: k, a: roundedA.floats,
                      lda: transposeA ? m : k, b: roundedB.floats, ldb: transposeB ? k : n, beta: beta, c: c, ldc: n)
    }

    /// The product on oneDNN's bf16 matmul; throws when oneDNN refuses the shape (the
    /// self-check calls this directly, so a refusal is not hidden by the emulation).
    static func native(transposeA: Bool, transposeB: Bool, m: Int, n: Int, k: Int, a: UnsafePointer<Float>,
                       b: UnsafePointer<Float>, beta: Float, c: UnsafeMutablePointer<Float>) throws {
        let matmul = try MatmulCache.forCurrentThread.primitive(
            MatmulShape(m: m, n: n, k: k, transposeA: transposeA, transposeB: transposeB, accumulate: beta == 1,
                        threads: KernelThreads.forCurrentThread))
        let roundedA = BF16Operand(count: m * k, kernels: .native), roundedB = BF16Operand(count: k * n, kernels: .native)
        roundedA.fill(from: a, count: m * k)
        roundedB.fill(from: b, count: k * n)
        try withExtendedLifetime((roundedA, roundedB)) { try matmul.run(a: roundedA.raw, b: roundedB.raw, c: c) }
    }
}

struct MatmulShape: Hashable {
    var m, n, k: Int
    var transposeA, transposeB, accumulate: Bool
    /// The OpenMP threads of the calling thread: oneDNN's matmul runs on at most as many as it
    /// was created with.
    var threads: Int
}

/// One thread's bf16 matmul primitives by shape, each with its own scratchpad and the
/// thread's stream: a primitive's scratchpad must not be shared by threads running at once.
final class MatmulCache {
    private var primitives: [MatmulShape: BF16Matmul] = [:]
    /// Shapes oneDNN refused, with why: not asked again.
    private var refused: [MatmulShape: String] = [:]
    private let stream: DNNLStream

    private init() throws { stream = try DNNLStream() }

    private static let key = "lightbox.bf16-matmul-cache"

    static var forCurrentThread: MatmulCache {
        get throws {
            let dictionary = Thread.current.threadDictionary
            if let cache = dictionary[key] as? MatmulCache { return cache }
            let cache = try MatmulCache()
            dictionary[key] = cache
            return cache
        }
    }

    func primitive(_ shape: MatmulShape) throws -> BF16Matmul {
        if let known = primitives[shape] { return known }
        if let why = refused[shape] { throw KernelError(why) }
        do {
            let made = try BF16Matmul(shape, stream: stream)
            primitives[shape] = made
            return made
        } catch {
            refused[shape] = "\(error)"
            throw error
        }
    }
}

/// oneDNN's matmul for one shape: bf16 A `[m, k]` (stored `[k, m]` when transposed) and B
/// `[k, n]` (stored `[n, k]` when transposed), float32 C `[m, n]`, added to C's contents when
/// `accumulate`.
final class BF16Matmul {
    private let primitive: dnnl_primitive_t
    private let a, b, c, scratchpad: dnnl_memory_t
    private let stream: DNNLStream
    /// Which implementation oneDNN chose (e.g. `brg:avx512_core_bf16`).
    let implementation: String

    init(_ s: MatmulShape, stream: DNNLStream) throws {
        let ctx = DNNL.shared
        self.stream = stream
        let aMD = try DNNL.descriptor([s.m, s.k], s.transposeA ? dnnl_ba : dnnl_ab, dnnl_bf16)
        let bMD = try DNNL.descriptor([s.k, s.n], s.transposeB ? dnnl_ba : dnnl_ab, dnnl_bf16)
        let cMD = try DNNL.descriptor([s.m, s.n], dnnl_ab)
        var desc = dnnl_matmul_desc_t()
        var am = aMD, bm = bMD, cm = cMD
        try DNNL.check(dnnl_matmul_desc_init(&desc, &am, &bm, nil, &cm), "matmul descriptor")
        let attr = try DNNL.attributes(sum: s.accumulate, activation: .none)
        defer { dnnl_primitive_attr_destroy(attr) }
        var pd: dnnl_primitive_desc_t?
        try DNNL.check(DNNL.describe { withUnsafePointer(to: &desc) { dnnl_primitive_desc_create(&pd, $0, attr, ctx.engine, nil) } },
                       "bf16 matmul descriptor \(s)")
        defer { dnnl_primitive_desc_destroy(pd) }
        implementation = DNNL.implementation(pd)
        var prim: dnnl_primitive_t?
        try DNNL.check(dnnl_primitive_create(&prim, pd), "bf16 matmul primitive")
        primitive = prim!
        a = try ctx.memory(aMD, nil)
        b = try ctx.memory(bMD, nil)
        c = try ctx.memory(cMD, nil)
        scratchpad = try ctx.ownedMemory(dnnl_primitive_desc_query_md(pd, dnnl_query_scratchpad_md, 0)!.pointee)
    }

    deinit {
        dnnl_primitive_destroy(primitive)
        for m in [a, b, c, scratchpad] { dnnl_memory_destroy(m) }
    }

    func run(a aData: UnsafeMutableRawPointer, b bData: UnsafeMutableRawPointer, c cData: UnsafeMutablePointer<Float>) throws {
        try DNNL.check(dnnl_memory_set_data_handle(a, aData), "matmul A")
        try DNNL.check(dnnl_memory_set_data_handle(b, bData), "matmul B")
        try DNNL.check(dnnl_memory_set_data_handle(c, UnsafeMutableRawPointer(cData)), "matmul C")
        var args = [
            dnnl_exec_arg_t(arg: DNNL_ARG_SRC, memory: a), dnnl_exec_arg_t(arg: DNNL_ARG_WEIGHTS, memory: b),
            dnnl_exec_arg_t(arg: DNNL_ARG_DST, memory: c), dnnl_exec_arg_t(arg: DNNL_ARG_SCRATCHPAD, memory: scratchpad),
        ]
        try DNNL.check(dnnl_primitive_execute(primitive, stream.stream, Int32(args.count), &args), "bf16 matmul")
        try DNNL.check(dnnl_stream_wait(stream.stream), "stream wait")
    }
}
