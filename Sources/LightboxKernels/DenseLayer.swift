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
}

/// Fully connected products (on `GEMM`).
public enum BLAS {
    /// `output[n][o] = sum_i input[n][i] * weights[o][i] + bias[o]` for `rows` input rows,
    /// with weights in torch's `[out, in]` layout.
    public static func dense(input: UnsafePointer<Float>, rows: Int, inputs: Int,
                             weights: UnsafePointer<Float>, bias: UnsafePointer<Float>?, outputs: Int,
                             output: UnsafeMutablePointer<Float>) {
        if let bias { for r in 0..<rows { (output + r * outputs).update(from: bias, count: outputs) } }
        // Without a bias the product overwrites the output (beta 0), which need not be initialised.
        GEMM.rowMajor(transposeA: false, transposeB: true, m: rows, n: outputs, k: inputs, a: input, lda: inputs,
                      b: weights, ldb: inputs, beta: bias == nil ? 0 : 1, c: output, ldc: outputs)
    }
}

extension BLAS {
    /// A dense layer's weight gradient: `gradient[o][i] = sum_n outputGradient[n][o] * input[n][i]`
    /// over `rows` rows (torch's `[out, in]` layout), overwriting `gradient`.
    public static func weightGradient(outputGradient: UnsafePointer<Float>, input: UnsafePointer<Float>, rows: Int,
                                      inputs: Int, outputs: Int, gradient: UnsafeMutablePointer<Float>) {
        GEMM.rowMajor(transposeA: true, transposeB: false, m: outputs, n: inputs, k: rows, a: outputGradient, lda: outputs,
                      b: input, ldb: inputs, beta: 0, c: gradient, ldc: inputs)
    }
}
