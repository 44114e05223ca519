import COpenBLAS

// The backward passes fine-tuning needs, on NHWC activations stored as `[rows, channels]`
// (rows = batch x height x width). Pointwise (1x1) convolutions are matrix products on
// OpenBLAS; batch normalisation, ReLU6 and the 3x3 depthwise convolution are loops over the
// channels, which the compiler vectorises (the tail they serve runs at 14x14 and 7x7).

extension BLAS {
    /// A dense layer's input gradient: `gradient[n][i] = sum_o outputGradient[n][o] * weights[o][i]`
    /// (weights in torch's `[out, in]` layout), overwriting `gradient`.
    public static func inputGradient(outputGradient: UnsafePointer<Float>, weights: UnsafePointer<Float>, rows: Int,
                                     inputs: Int, outputs: Int, gradient: UnsafeMutablePointer<Float>) {
        cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, Int32(rows), Int32(inputs), Int32(outputs),
                    1, outputGradient, Int32(outputs), weights, Int32(inputs), 0, gradient, Int32(inputs))
    }
}

/// Batch normalisation over `[rows, channels]`, as torch computes it.
public enum BatchNormKernel {
    /// Training mode: normalises with the batch's mean and biased variance; returns them and
    /// the inverse standard deviation (for the backward pass).
    public static func forwardTraining(_ x: UnsafePointer<Float>, rows: Int, channels: Int, gamma: [Float], beta: [Float],
                                       epsilon: Float, output: UnsafeMutablePointer<Float>)
        -> (mean: [Float], variance: [Float], inverseStd: [Float]) {
        var sum = [Double](repeating: 0, count: channels), squares = [Double](repeating: 0, count: channels)
        for r in 0..<rows {
            let row = x + r * channels
            for c in 0..<channels {
                let v = Double(row[c])
                sum[c] += v
                squares[c] += v * v
            }
        }
        let n = Double(rows)
        let mean = sum.map { Float($0 / n) }
        let variance = (0..<channels).map { c in Float(max(squares[c] / n - (sum[c] / n) * (sum[c] / n), 0)) }
        let inverseStd = variance.map { 1 / ($0 + epsilon).squareRoot() }
        apply(x, rows: rows, channels: channels, mean: mean, scale: (0..<channels).map { gamma[$0] * inverseStd[$0] }, beta: beta,
              output: output)
        return (mean, variance, inverseStd)
    }

    /// Inference mode: normalises with running statistics.
    public static func forwardInference(_ x: UnsafePointer<Float>, rows: Int, channels: Int, gamma: [Float], beta: [Float],
                                        mean: [Float], variance: [Float], epsilon: Float, output: UnsafeMutablePointer<Float>) {
        let scale = (0..<channels).map { gamma[$0] / (variance[$0] + epsilon).squareRoot() }
        apply(x, rows: rows, channels: channels, mean: mean, scale: scale, beta: beta, output: output)
    }

    /// `(x - mean) * scale + beta`: subtracting the mean first, as torch does, keeps the
    /// precision a folded `x * scale + shift` loses when the mean is large against the spread.
    static func apply(_ x: UnsafePointer<Float>, rows: Int, channels: Int, mean: [Float], scale: [Float], beta: [Float],
                      output: UnsafeMutablePointer<Float>) {
        mean.withUnsafeBufferPointer { m in
            scale.withUnsafeBufferPointer { s in
                beta.withUnsafeBufferPointer { b in
                    for r in 0..<rows {
                        let i = x + r * channels, o = output + r * channels
                        for c in 0..<channels { o[c] = (i[c] - m[c]) * s[c] + b[c] }
                    }
                }
            }
        }
    }

    /// Gradients of a training-mode batch norm: input gradient (overwriting `inputGradient`),
    /// and those of gamma and beta.
    public static func backward(_ outputGradient: UnsafePointer<Float>, input x: UnsafePointer<Float>, rows: Int, channels: Int,
                                mean: [Float], inverseStd: [Float], gamma: [Float],
                                inputGradient: UnsafeMutablePointer<Float>) -> (gamma: [Float], beta: [Float]) {
        var dBeta = [Float](repeating: 0, count: channels), dGamma = [Float](repeating: 0, count: channels)
        for r in 0..<rows {
            let dy = outputGradient + r * channels, row = x + r * channels
            for c in 0..<channels {
                dBeta[c] += dy[c]
                dGamma[c] += dy[c] * (row[c] - mean[c]) * inverseStd[c]
            }
        }
        let n = Float(rows)
        // dx = gamma * invStd / n * (n * dy - dBeta - xhat * dGamma)
        let k = (0..<channels).map { gamma[$0] * inverseStd[$0] / n }
        for r in 0..<rows {
            let dy = outputGradient + r * channels, row = x + r * channels, dx = inputGradient + r * channels
            for c in 0..<channels {
                let xhat = (row[c] - mean[c]) * inverseStd[c]
                dx[c] = k[c] * (n * dy[c] - dBeta[c] - xhat * dGamma[c])
            }
        }
        return (dGamma, dBeta)
    }
}

/// min(max(x, 0), 6) and its gradient (passed where 0 < x < 6, as torch's hardtanh).
public enum ReLU6Kernel {
    public static func forward(_ x: UnsafeMutablePointer<Float>, count: Int) {
        for i in 0..<count { x[i] = min(max(x[i], 0), 6) }
    }

    /// Zeroes `gradient` where the pre-activation `input` was outside (0, 6).
    public static func backward(_ gradient: UnsafeMutablePointer<Float>, input: UnsafePointer<Float>, count: Int) {
        for i in 0..<count where !(input[i] > 0 && input[i] < 6) { gradient[i] = 0 }
    }
}

/// A 3x3 depthwise convolution with padding 1 and no bias on NHWC, weights `[3, 3, channels]`.
public enum DepthwiseKernel {
    public static func outputSide(_ side: Int, stride: Int) -> Int { (side + 2 - 3) / stride + 1 }

    public static func forward(_ x: UnsafePointer<Float>, batch: Int, side: Int, channels: Int, stride: Int,
                               weights: UnsafePointer<Float>, output: UnsafeMutablePointer<Float>) {
        let out = outputSide(side, stride: stride)
        output.update(repeating: 0, count: batch * out * out * channels)
        visit(batch: batch, side: side, out: out, stride: stride) { input, result, tap in
            let i = x + input * channels, o = output + result * channels, w = weights + tap * channels
            for c in 0..<channels { o[c] += i[c] * w[c] }
        }
    }

    /// Input and weight gradients (both overwritten).
    public static func backward(_ outputGradient: UnsafePointer<Float>, input x: UnsafePointer<Float>, batch: Int, side: Int,
                                channels: Int, stride: Int, weights: UnsafePointer<Float>,
                                inputGradient: UnsafeMutablePointer<Float>, weightGradient: UnsafeMutablePointer<Float>) {
        let out = outputSide(side, stride: stride)
        inputGradient.update(repeating: 0, count: batch * side * side * channels)
        weightGradient.update(repeating: 0, count: 9 * channels)
        visit(batch: batch, side: side, out: out, stride: stride) { input, result, tap in
            let dy = outputGradient + result * channels, i = x + input * channels, dx = inputGradient + input * channels
            let w = weights + tap * channels, dw = weightGradient + tap * channels
            for c in 0..<channels {
                dx[c] += dy[c] * w[c]
                dw[c] += dy[c] * i[c]
            }
        }
    }

    /// Calls `body(input position, output position, tap)` for every in-bounds tap.
    @inline(__always)
    static func visit(batch: Int, side: Int, out: Int, stride: Int, _ body: (Int, Int, Int) -> Void) {
        for n in 0..<batch {
            for oy in 0..<out {
                for ox in 0..<out {
                    let result = (n * out + oy) * out + ox
                    for ky in 0..<3 {
                        let iy = oy * stride + ky - 1
                        guard iy >= 0 && iy < side else { continue }
                        for kx in 0..<3 {
                            let ix = ox * stride + kx - 1
                            guard ix >= 0 && ix < side else { continue }
                            body((n * side + iy) * side + ix, result, ky * 3 + kx)
                        }
                    }
                }
            }
        }
    }
}
