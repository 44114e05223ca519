import LightboxCore
/// A frozen convolutional backbone: preprocessed NHWC images in, pooled embeddings (and
/// optionally the last feature map) out. MobileNetV2 from torchvision weights and networks
/// read from TF.js exports both are one.
public protocol FeatureExtractor: AnyObject, Sendable {
    /// Width of the embedding (the last feature map's channels).
    var embeddingChannels: Int { get }
    /// Side of the square input.
    var inputSize: Int { get }
    /// Runs `batch` images (`batch * inputSize * inputSize * 3` floats, NHWC).
    func forward(_ input: UnsafePointer<Float>, batch: Int, outputs: BackboneOutputs) throws -> BackboneResult
    /// What its products compute in (fp32 or bf16).
    var arithmetic: Arithmetic { get }
}

extension MobileNetV2: FeatureExtractor {}

extension FeatureExtractor {
    /// Embeddings only.
    public func forward(_ input: UnsafePointer<Float>, batch: Int) throws -> BackboneResult {
        try forward(input, batch: batch, outputs: [])
    }
}
