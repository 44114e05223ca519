import Foundation
import LightboxEmbedding
import LightboxModels

/// What a cached or sharded pass over pictures computes for a model, chosen here and nowhere
/// else: the whole backbone's embedding when every member reads only that (the cache entries
/// training made serve again, and what the head method's shards compute), else the ensemble's
/// probabilities (`EnsembleProbabilities`). Evaluation, prediction over shards and shard tasks
/// all go through this.
public struct CachedPass {
    public enum Output: Sendable, Equatable {
        /// The backbone's pooled embedding; the members turn it into probabilities.
        case backboneEmbedding
        /// The members' mean probabilities (uncalibrated).
        case probabilities
    }

    public let output: Output
    public let embedder: ImageEmbedder
    /// Names the pass's outputs in the embedding cache.
    public let cacheKey: String
    let model: TrainedModel

    /// A sample embedder that reads and fills the cache in `directory`.
    public func sampleEmbedder(directory: String) -> SampleEmbedder {
        SampleEmbedder(embedder: embedder, cache: EmbeddingCache(directory: directory), backbone: cacheKey)
    }

    /// The model's probabilities, `[count, classes]`, from `count` rows of the pass's output,
    /// calibrated as the model's own outputs are (the cached probabilities are the members' mean).
    public func probabilities(_ rows: [Float], count: Int) throws -> [Float] {
        switch output {
        case .backboneEmbedding: try model.probabilities(embeddings: rows, rows: count)
        case .probabilities: model.calibrated(rows)
        }
    }

    /// What the pass says it computes, for messages.
    public var description: String { output == .backboneEmbedding ? "its backbone's embedding" : "its probabilities" }
}

extension TrainedModel {
    /// This model's cached pass; `baseWeightsSHA256` (the pretrained weights its frozen part
    /// comes from) names an ensemble's probabilities in the cache.
    public func cachedPass(baseWeightsSHA256: String) -> CachedPass {
        if let backbone = cachedBackbone {
            return CachedPass(output: .backboneEmbedding, embedder: backbone.embedder, cacheKey: backbone.cacheKey, model: self)
        }
        let ensemble = EnsembleProbabilities(model: self, baseWeightsSHA256: baseWeightsSHA256)
        return CachedPass(output: .probabilities, embedder: ensemble.imageEmbedder, cacheKey: ensemble.cacheKey, model: self)
    }
}
