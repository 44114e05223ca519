import Foundation
import LightboxData
import LightboxImaging
import LightboxModels

/// Embeds images (as they are or augmented) through the frozen backbone, reading from
/// and filling the embedding cache. Files that cannot be decoded are reported, not used.
public final class SampleEmbedder: @unchecked Sendable {
    public let embedder: ImageEmbedder
    public let cache: EmbeddingCache?
    /// Names the backbone in cache keys.
    public let backbone: String

    public init(embedder: ImageEmbedder, cache: EmbeddingCache?, backbone: String) {
        self.embedder = embedder
        self.cache = cache
        self.backbone = backbone
    }

    /// The cache key of a picture with these contents, as this embedder preprocesses and decodes it.
    public func key(contentDigest: String, augmentation: AugmentationDraw? = nil) -> String {
        EmbeddingCache.key(contentDigest: contentDigest, preprocessor: embedder.preprocessor, augmentation: augmentation,
                           backbone: backbone, dicomWindow: embedder.decoder.dicomWindow, crop: embedder.cropIdentity)
    }

    public struct Outcome: Sendable {
        /// One row per sample, in order; nil where the image could not be used.
        public var embeddings: [[Float]?]
        public var failures: [ImageDecodingError]
        public var cacheHits: Int
        public var computed: Int
    }

    /// `digests` must hold every sample's file (from `ContentDigests.compute`). `checkpoint` runs
    /// before each batch is computed; whatever it throws stops the embedding there (a
    /// cancelled run stops within a batch).
    public func embed(_ samples: [TrainingSample], digests: [String: Result<String, ImageDecodingError>],
                      batchSize: Int = 32, checkpoint: (() throws -> Void)? = nil,
                      progress: ((Int, Int) -> Void)? = nil) throws -> Outcome {
        let channels = embedder.network.embeddingChannels
        var outcome = Outcome(embeddings: [[Float]?](repeating: nil, count: samples.count), failures: [],
                              cacheHits: 0, computed: 0)
        var keys = [String?](repeating: nil, count: samples.count)
        var failedPaths = Set<String>()
        for (i, sample) in samples.enumerated() {
            switch digests[sample.image.path] {
            case .success(let digest)?:
                keys[i] = key(contentDigest: digest, augmentation: sample.augmentation)
            case .failure(let error)?:
                if failedPaths.insert(sample.image.path).inserted { outcome.failures.append(error) }
            case nil:
                if failedPaths.insert(sample.image.path).inserted {
                    outcome.failures.append(ImageDecodingError(path: sample.image.path, reason: .unreadable("not read")))
                }
            }
        }

        // Cache hits first; what is left is computed once per distinct key.
        var pending: [String: [Int]] = [:]
        var order: [String] = []
        for (i, key) in keys.enumerated() {
            guard let key else { continue }
            if let cached = cache?.load(key, count: channels) {
                outcome.embeddings[i] = cached
                outcome.cacheHits += 1
            } else {
                if pending[key] == nil { order.append(key) }
                pending[key, default: []].append(i)
            }
        }

        var done = 0
        progress?(0, order.count)
        var start = 0
        while start < order.count {
            try checkpoint?()
            let chunk = Array(order[start..<min(start + batchSize, order.count)])
            let first = chunk.map { pending[$0]![0] }
            let pass = try embedder.forward(first.map { samples[$0].image.path },
                                            augmentations: first.map { samples[$0].augmentation })
            for f in pass.failures where failedPaths.insert(f.path).inserted { outcome.failures.append(f) }
            if let result = pass.output {
                for (row, key) in pass.kept(chunk).enumerated() {
                    let values = Array(result.embeddings[(row * channels)..<((row + 1) * channels)])
                    try cache?.store(key, values)
                    for i in pending[key]! { outcome.embeddings[i] = values }
                    outcome.computed += 1
                }
            }
            start += chunk.count
            done += chunk.count
            progress?(done, order.count)
        }
        return outcome
    }
}
