import COpenBLAS

/// Fully connected products through OpenBLAS.
public enum BLAS {
    /// `output[n][o] = sum_i input[n][i] * weights[o][i] + bias[o]` for `rows` input rows,
    /// with weights in torch's `[out, in]` layout.
    public static func dense(input: UnsafePointer<Float>, rows: Int, inputs: Int,
                             weights: UnsafePointer<Float>, bias: UnsafePointer<Float>?, outputs: Int,
                             output: UnsafeMutablePointer<Float>) {
        for r in 0..<rows {
            if let bias {
                (output + r * outputs).update(from: bias, count: outputs)
            } else {
                (output + r * outputs).update(repeating: 0, count: outputs)
            }
        }
        cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, Int32(rows), Int32(outputs), Int32(inputs),
                    1, input, Int32(inputs), weights, Int32(inputs), 1, output, Int32(outputs))
    }
}

extension BLAS {
    /// A dense layer's weight gradient: `gradient[o][i] = sum_n outputGradient[n][o] * input[n][i]`
    /// over `rows` rows (torch's `[out, in]` layout), overwriting `gradient`.
    public static func weightGradient(outputGradient: UnsafePointer<Float>, input: UnsafePointer<Float>, rows: Int,
                                      inputs: Int, outputs: Int, gradient: UnsafeMutablePointer<Float>) {
        cblas_sgemm(CblasRowMajor, CblasTrans, CblasNoTrans, Int32(outputs), Int32(inputs), Int32(rows),
                    1, outputGradient, Int32(outputs), input, Int32(inputs), 0, gradient, Int32(inputs))
    }
}
