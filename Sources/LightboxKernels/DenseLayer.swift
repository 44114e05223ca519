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
