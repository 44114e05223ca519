import LightboxModels

extension Backbone {
    /// A sample embedder over this backbone, with the on-disk cache unless disabled.
    public func sampleEmbedder(cache: Bool) -> SampleEmbedder {
        SampleEmbedder(embedder: embedder, cache: cache ? EmbeddingCache() : nil, backbone: cacheKey)
    }
}
