import LightboxCore
import CDNNL

/// Row-major single-precision matrix products, `C = op(A) op(B) + beta C`, on oneDNN's JIT
/// sgemm (its OpenMP pool, as the convolutions; the calling thread's OpenMP thread count).
/// It measured about 3% faster than OpenBLAS on fine-tuning's products (BENCHMARKS.md), which
/// Lightbox used before and no longer links.
public enum GEMM {
    static func rowMajor(transposeA: Bool, transposeB: Bool, m: Int, n: Int, k: Int, a: UnsafePointer<Float>, lda: Int,
                         b: UnsafePointer<Float>, ldb: Int, beta: Float, c: UnsafeMutablePointer<Float>, ldc: Int) {
        // 'T' and 'N'; oneDNN's sgemm is row-major.
        _ = dnnl_sgemm(transposeA ? 84 : 78, transposeB ? 84 : 78, Int64(m), Int64(n), Int64(k), 1, a, Int64(lda), b, Int64(ldb),
                       beta, c, Int64(ldc))
    }

    /// `rowMajor` on contiguous operands, in `arithmetic` (bf16: `BF16Products`).
    static func product(transposeA: Bool, transposeB: Bool, m: Int, n: Int, k: Int, a: UnsafePointer<Float>,
                        b: UnsafePointer<Float>, beta: Float, c: UnsafeMutablePointer<Float>, arithmetic: Arithmetic) {
        if arithmetic.isBF16 {
            BF16Products.rowMajor(transposeA: transposeA, transposeB: transposeB, m: m, n: n, k: k, a: a, b: b, beta: beta, c: c,
                                  kernels: arithmetic.kernels)
        } else {
            rowMajor(transposeA: transposeA, transposeB: transposeB, m: m, n: n, k: k, a: a, lda: transposeA ? m : k, b: b,
                     ldb: transposeB ? k : n, beta: beta, c: c, ldc: n)
        }
    }
}

/// Fully connected products (on `GEMM`).
public enum BLAS {
    /// `output[n][o] = sum_i input[n][i] * weights[o][i] + bias[o]` for `rows` input rows,
    /// with weights in torch's `[out, in]` layout.
    public static func dense(input: UnsafePointer<Float>, rows: Int, inputs: Int,
                             weights: UnsafePointer<Float>, bias: UnsafePointer<Float>?, outputs: Int,
                             output: UnsafeMutablePointer<Float>, arithmetic: Arithmetic = .fp32) {
        if let bias { for r in 0..<rows { (output + r * outputs).update(from: bias, count: outputs) } }
        // Without a bias the product overwrites the output (beta 0), which need not be initialised.
        GEMM.product(transposeA: false, transposeB: true, m: rows, n: outputs, k: inputs, a: input, b: weights,
                     beta: bias == nil ? 0 : 1, c: output, arithmetic: arithmetic)
    }
}

extension BLAS {
    /// A dense layer's weight gradient: `gradient[o][i] = sum_n outputGradient[n][o] * input[n][i]`
    /// over `rows` rows (torch's `[out, in]` layout), overwriting `gradient`.
    public static func weightGradient(outputGradient: UnsafePointer<Float>, input: UnsafePointer<Float>, rows: Int,
                                      inputs: Int, outputs: Int, gradient: UnsafeMutablePointer<Float>,
                                      arithmetic: Arithmetic = .fp32) {
        GEMM.product(transposeA: true, transposeB: false, m: outputs, n: inputs, k: rows, a: outputGradient, b: input,
                     beta: 0, c: gradient, arithmetic: arithmetic)
    }
}
