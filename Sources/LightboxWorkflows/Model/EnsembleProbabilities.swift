import Foundation
import LightboxCore
import LightboxEmbedding
import LightboxInterop
import LightboxModels

/// A trained model seen as a feature extractor whose "embedding" is its members' mean class
/// probabilities, before the model's calibration (applied by `CachedPass` after reading them, so
/// the cache key, which names the members alone, stays right whatever the calibration): one forward pass is the frozen part, then every member, exactly as
/// `TrainedModel.predict` runs a batch. This is what lets the embedding cache, and the shards
/// that fill it here or on Slurm, carry an evaluation or prediction of a model whose members
/// read more than the backbone's embedding (a fine-tuned ensemble).
public final class EnsembleProbabilities: FeatureExtractor, @unchecked Sendable {
    public let model: TrainedModel
    /// Names the ensemble in cache keys: its members' tensors and the base weights.
    public let cacheKey: String

    /// `baseWeightsSHA256` is the digest of the pretrained weights the frozen modules come from.
    public init(model: TrainedModel, baseWeightsSHA256: String) {
        self.model = model
        cacheKey = "ensemble@\(Self.digest(model.members, baseWeightsSHA256: baseWeightsSHA256).prefix(16))\(model.arithmetic.cacheTag)"
    }

    public var arithmetic: Arithmetic { model.arithmetic }

    public var embeddingChannels: Int { model.classes }
    public var inputSize: Int { model.preprocessor.size }

    public func forward(_ input: UnsafePointer<Float>, batch: Int, outputs: BackboneOutputs) throws -> BackboneResult {
        let frozen = try model.frozen.forward(input, batch: batch, outputs: model.reads)
        return BackboneResult(batch: batch, embeddings: try model.uncalibratedProbabilities(frozen: frozen))
    }

    /// The embedder of shards and of the cached evaluation: the model's own preprocessing and decoder.
    public var imageEmbedder: ImageEmbedder {
        ImageEmbedder(network: self, preprocessor: model.preprocessor, decoder: model.decoder, threads: model.threads, crop: model.crop)
    }

    /// SHA-256 over every member's tensors (names, shapes, values, in name order).
    static func digest(_ members: [any ModelMember], baseWeightsSHA256: String) -> String {
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
