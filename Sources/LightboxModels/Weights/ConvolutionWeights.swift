/// The two layouts a convolution's weights come in, and batch norm folded into them: the one
/// place these are written (torchvision and Teachable Machine backbones read through them,
/// the Keras and TF.js exports write through them).
public enum ConvolutionWeights {
    /// Keras's `[k, k, inputs, outputs]` (HWIO) to torch's `[outputs, inputs, k, k]` (OIHW).
    /// A depthwise kernel `[k, k, channels, 1]` is the case `inputs: channels, outputs: 1`,
    /// and comes out as torch's `[channels, 1, k, k]`.
    public static func oihw(fromHWIO w: [Float], kernel k: Int, inputs: Int, outputs: Int) -> [Float] {
        precondition(w.count == k * k * inputs * outputs)
        var out = [Float](repeating: 0, count: w.count)
        for y in 0..<k { for x in 0..<k { for i in 0..<inputs { for o in 0..<outputs {
            out[((o * inputs + i) * k + y) * k + x] = w[((y * k + x) * inputs + i) * outputs + o]
        } } } }
        return out
    }

    /// The inverse of `oihw(fromHWIO:)`.
    public static func hwio(fromOIHW w: [Float], kernel k: Int, inputs: Int, outputs: Int) -> [Float] {
        precondition(w.count == k * k * inputs * outputs)
        var out = [Float](repeating: 0, count: w.count)
        for y in 0..<k { for x in 0..<k { for i in 0..<inputs { for o in 0..<outputs {
            out[((y * k + x) * inputs + i) * outputs + o] = w[((o * inputs + i) * k + y) * k + x]
        } } } }
        return out
    }

    /// Folds inference-mode batch norm into the convolution before it (weights OIHW, one bias
    /// per output channel): `w' = w * s`, `b' = (b - mean) * s + beta`, `s = gamma / sqrt(var + eps)`.
    public static func foldBatchNorm(weights: inout [Float], bias: inout [Float], gamma: [Float], beta: [Float],
                                     mean: [Float], variance: [Float], epsilon: Float) {
        let channels = bias.count
        precondition(gamma.count == channels && beta.count == channels && mean.count == channels
                     && variance.count == channels && weights.count % channels == 0)
        let perOutput = weights.count / channels
        for o in 0..<channels {
            let scale = gamma[o] / (variance[o] + epsilon).squareRoot()
            for i in 0..<perOutput { weights[o * perOutput + i] *= scale }
            bias[o] = (bias[o] - mean[o]) * scale + beta[o]
        }
    }
}
