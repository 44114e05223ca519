import LightboxKernels

/// A convolution with its batch norm folded in: `w' = w * g / sqrt(v + eps)`,
/// `b' = beta - mean * g / sqrt(v + eps)`, computed once at load.
public struct FoldedConvolution: Sendable {
    public var spec: ConvolutionSpec
    /// OIHW (per group), as torch stores it.
    public var weights: [Float]
    public var bias: [Float]

    public static let batchNormEpsilon: Float = 1e-5

    public init(unit: MobileNetV2Architecture.ConvUnit, from store: NamedTensors,
                epsilon: Float = FoldedConvolution.batchNormEpsilon) throws {
        let s = unit.spec
        let shape = [s.outputChannels, s.inputChannels / s.groups, s.kernel, s.kernel]
        let w = try store.tensor(unit.weight, shape: shape).values
        let c = [s.outputChannels]
        let gamma = try store.tensor("\(unit.batchNorm).weight", shape: c).values
        let beta = try store.tensor("\(unit.batchNorm).bias", shape: c).values
        let mean = try store.tensor("\(unit.batchNorm).running_mean", shape: c).values
        let variance = try store.tensor("\(unit.batchNorm).running_var", shape: c).values

        var folded = w
        var bias = [Float](repeating: 0, count: s.outputChannels)
        ConvolutionWeights.foldBatchNorm(weights: &folded, bias: &bias, gamma: gamma, beta: beta, mean: mean, variance: variance,
                                         epsilon: epsilon)
        self.spec = s
        self.weights = folded
        self.bias = bias
    }
}
