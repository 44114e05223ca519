import LightboxModels

extension Backbone {
    /// A sample embedder over this backbone, with the on-disk cache unless disabled.
    /// - Parameter directory: the cache's folder (a shared one for sharded work); nil: the default.
    public func sampleEmbedder(cache: Bool, directory: String? = nil) -> SampleEmbedder {
        SampleEmbedder(embedder: embedder, cache: cache ? directory.map { EmbeddingCache(directory: $0) } ?? EmbeddingCache() : nil,
                       backbone: cacheKey)
    }
}
