import Foundation
import LightboxCore
import LightboxEmbedding
import LightboxInterop
import LightboxModels

/// A fine-tuned ensemble seen as a feature extractor whose "embedding" is its mean class
/// probabilities: one forward pass is the frozen modules, then every member, exactly as
/// `FineTunedModel.predict` runs a batch. This is what lets the embedding cache, and the shards
/// that fill it here or on Slurm, carry an evaluation or prediction of a fine-tuned model.
public final class EnsembleProbabilities: FeatureExtractor, @unchecked Sendable {
    public let model: FineTunedModel
    /// Names the ensemble in cache keys: its trained tensors, base weights and first module.
    public let cacheKey: String

    /// `baseWeightsSHA256` is the digest of the pretrained weights the frozen modules come from.
    public init(model: FineTunedModel, baseWeightsSHA256: String) {
        self.model = model
        cacheKey = "finetuned-ensemble@\(Self.digest(model.members, baseWeightsSHA256: baseWeightsSHA256).prefix(16))"
    }

    public var embeddingChannels: Int { model.classes }
    public var inputSize: Int { model.preprocessor.size }

    public func forward(_ input: UnsafePointer<Float>, batch: Int, outputs: BackboneOutputs) throws -> BackboneResult {
        let features = try model.frozen.forward(input, batch: batch, outputs: .featureMap).featureMap!
        return BackboneResult(batch: batch, embeddings: try model.probabilities(frozen: features, batch: batch))
    }

    /// The embedder of shards and of the cached evaluation: the model's own preprocessing and decoder.
    public var imageEmbedder: ImageEmbedder {
        ImageEmbedder(network: self, preprocessor: model.preprocessor, decoder: model.decoder)
    }

    /// A sample embedder that reads and fills the cache in `directory` (nil: the default cache).
    public func sampleEmbedder(directory: String?) -> SampleEmbedder {
        SampleEmbedder(embedder: imageEmbedder, cache: directory.map { EmbeddingCache(directory: $0) } ?? EmbeddingCache(),
                       backbone: cacheKey)
    }

    /// SHA-256 over every member's tensors (names, shapes, values, in name order).
    static func digest(_ members: [FineTuneMember], baseWeightsSHA256: String) -> String {
        var data = Data("lightbox-ensemble/1\n\(baseWeightsSHA256)\n\(members.count)\n".utf8)
        for member in members {
            let tensors = member.tensors
            for name in tensors.keys.sorted() {
                let t = tensors[name]!
                data.append(Data("\(name) \(t.shape)\n".utf8))
                t.values.withUnsafeBytes { data.append(contentsOf: $0) }
            }
        }
        return SHA256.hex(data)
    }
}

extension EnsembleProbabilities {
    /// The ensemble of a fine-tuned bundle, on the base weights it was trained from.
    public convenience init(bundle: ModelBundle) throws {
        guard let ensemble = bundle.fineTuned else {
            throw WeightsError("\(bundle.directory ?? "model"): not a fine-tuned model")
        }
        self.init(model: try FineTunedModel(bundle: bundle, ensemble: ensemble), baseWeightsSHA256: bundle.backbone.weightsSHA256)
    }
}
