import LightboxModels

extension Backbone {
    /// A sample embedder over this backbone, with the on-disk cache unless disabled.
    /// - Parameter directory: the cache's folder (the run's `embeddings` folder, or a shared one for sharded work).
    public func sampleEmbedder(cache: Bool, directory: String) -> SampleEmbedder {
        SampleEmbedder(embedder: embedder, cache: cache ? EmbeddingCache(directory: directory) : nil,
                       backbone: cacheKey)
    }
}
