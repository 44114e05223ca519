import LightboxCore
import CLightboxKernels

// The backward passes fine-tuning needs, on NHWC activations stored as `[rows, channels]`
// (rows = batch x height x width). Pointwise (1x1) convolutions are matrix products (GEMM);
// batch normalisation, ReLU6 and residual adds are loops over the channels in C (training.c),
// cloned for AVX-512 and AVX2: with Swift's baseline-x86-64 loops a step took 7.6 ms per image,
// with these 5.3 (lightbox-bench finetune-step, 2 threads). Batch norm's backward measured
// faster than oneDNN's (bench/kernels_vs_onednn.c); the 3x3 depthwise convolution, forward and
// backward, measured slower by hand and runs on oneDNN (DNNLDepthwiseConvolution).

extension BLAS {
    /// A dense layer's input gradient: `gradient[n][i] = sum_o outputGradient[n][o] * weights[o][i]`
    /// (weights in torch's `[out, in]` layout), overwriting `gradient`.
    public static func inputGradient(outputGradient: UnsafePointer<Float>, weights: UnsafePointer<Float>, rows: Int,
                                     inputs: Int, outputs: Int, gradient: UnsafeMutablePointer<Float>,
                                     arithmetic: Arithmetic = .fp32) {
        GEMM.product(transposeA: false, transposeB: false, m: rows, n: inputs, k: outputs, a: outputGradient, b: weights,
                     beta: 0, c: gradient, arithmetic: arithmetic)
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
        lightbox_bn_statistics(x, rows, channels, &sum, &squares)
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
        lightbox_bn_apply(x, rows, channels, mean, scale, beta, output)
    }

    /// Gradients of a training-mode batch norm: input gradient (overwriting `inputGradient`),
    /// and those of gamma and beta.
    public static func backward(_ outputGradient: UnsafePointer<Float>, input x: UnsafePointer<Float>, rows: Int, channels: Int,
                                mean: [Float], inverseStd: [Float], gamma: [Float],
                                inputGradient: UnsafeMutablePointer<Float>) -> (gamma: [Float], beta: [Float]) {
        var dBeta = [Float](repeating: 0, count: channels), dGamma = [Float](repeating: 0, count: channels)
        // dx = gamma * invStd / n * (n * dy - dBeta - xhat * dGamma)
        lightbox_bn_backward(outputGradient, x, rows, channels, mean, inverseStd, gamma, inputGradient, &dGamma, &dBeta)
        return (dGamma, dBeta)
    }
}

/// min(max(x, 0), 6) and its gradient (passed where 0 < x < 6, as torch's hardtanh).
public enum ReLU6Kernel {
    public static func forward(_ x: UnsafeMutablePointer<Float>, count: Int) {
        lightbox_relu6_forward(x, count)
    }

    /// Zeroes `gradient` where the pre-activation `input` was outside (0, 6).
    public static func backward(_ gradient: UnsafeMutablePointer<Float>, input: UnsafePointer<Float>, count: Int) {
        lightbox_relu6_backward(gradient, input, count)
    }
}

/// `x += y` over `count` values (residual connections and their gradients).
public enum AddKernel {
    public static func add(_ x: UnsafeMutablePointer<Float>, _ y: UnsafePointer<Float>, count: Int) {
        lightbox_add(x, y, count)
    }
}
