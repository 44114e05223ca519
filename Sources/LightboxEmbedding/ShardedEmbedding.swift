import Foundation
import LightboxCore
import LightboxData
import LightboxImaging
import LightboxModels

/// What one shard of an embedding job did: written (atomically, flushed) once the shard's
/// embeddings are all in the cache, so its presence means "this shard is done".
public struct ShardManifest: Codable, Equatable, Sendable {
    public static let currentFormat = "lightbox-shard/1"

    public struct Entry: Codable, Equatable, Sendable {
        public var path: String
        /// SHA-256 of the file's bytes: with the job's settings, the embedding's cache key.
        public var digest: String
        public init(path: String, digest: String) { self.path = path; self.digest = digest }
    }

    public struct Failure: Codable, Equatable, Sendable {
        public var path: String
        public var reason: String
        public init(path: String, reason: String) { self.path = path; self.reason = reason }
    }

    public var format: String
    /// "K/N".
    public var shard: String
    public var index: Int
    public var shards: Int
    /// Identifies the whole job (input list, backbone, preprocessing): a manifest of another
    /// job is not this job's.
    public var job: String
    /// Items in the whole list, the position of this shard's first item, and its item count.
    public var total: Int
    public var first: Int
    public var count: Int
    /// Embedded files in list order (a file that could not be used is in `failures` instead).
    public var done: [Entry]
    public var failures: [Failure]
    /// How the work went (not part of any output).
    public var cacheHits: Int
    public var computed: Int
    public var host: String
    public var seconds: Double

    public func encoded() throws -> Data {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys]
        return try encoder.encode(self)
    }
}

/// An embedding job split into contiguous shards (`Shard`) that can run anywhere sharing the
/// file system: each shard fills the content-addressed `EmbeddingCache` and then writes its
/// manifest; `merge` reads the cache back in list order. Since every image is embedded on its
/// own (`ImageEmbedder` runs single-image plans), the merged array does not depend on the
/// number of shards and equals what `ImageEmbedder.embed` writes for the same list.
public struct ShardedEmbedding: Sendable {
    /// The whole input list, in order (directories already expanded and sorted).
    public let paths: [String]
    public let embedder: SampleEmbedder
    public let cache: EmbeddingCache
    /// Where the manifests are written (`shard-K-of-N.json`).
    public let manifestDirectory: String
    public let job: String

    public init(paths: [String], embedder: SampleEmbedder, manifestDirectory: String) throws {
        guard let cache = embedder.cache else {
            throw ShardingError.badShard("sharded embedding needs the embedding cache (shards hand their results over through it)")
        }
        self.paths = paths
        self.embedder = embedder
        self.cache = cache
        self.manifestDirectory = manifestDirectory
        job = Self.jobIdentity(paths: paths, backbone: embedder.backbone, preprocessor: embedder.embedder.preprocessor,
                               dicomWindow: embedder.embedder.decoder.dicomWindow, crop: embedder.embedder.cropIdentity)
    }

    public static func jobIdentity(paths: [String], backbone: String, preprocessor: Preprocessor,
                                   dicomWindow: DICOMWindow = .first, crop: String? = nil) -> String {
        var text = "lightbox-embed/1\n\(backbone)\n\(preprocessor.identity)\n"
            + (dicomWindow == .first ? "" : "dicom-window=\(dicomWindow.rawValue)\n") + (crop.map { "\($0)\n" } ?? "") + "\(paths.count)\n"
        text += paths.joined(separator: "\n")
        return SHA256.hex(Data(text.utf8))
    }

    public func manifestPath(_ shard: Shard) -> String {
        let width = max(4, String(shard.count - 1).count)
        func padded(_ n: Int) -> String { String(repeating: "0", count: max(0, width - String(n).count)) + String(n) }
        return (manifestDirectory as NSString).appendingPathComponent("shard-\(padded(shard.index))-of-\(padded(shard.count)).json")
    }

    /// Embeds `shard`'s part of the list (cache hits are not recomputed), then writes its manifest.
    /// `checkpoint` and `progress` are passed to `SampleEmbedder.embed`.
    @discardableResult
    public func run(_ shard: Shard, batchSize: Int = 16, checkpoint: (() throws -> Void)? = nil,
                    progress: ((Int, Int) -> Void)? = nil) throws -> ShardManifest {
        let started = Date()
        let range = shard.range(in: paths.count)
        let slice = Array(paths[range])
        let digests = ContentDigests.compute(slice, threads: embedder.embedder.threads)
        let samples = slice.map { TrainingSample(image: LabeledImage(path: $0, label: "", group: "")) }
        let outcome = try embedder.embed(samples, digests: digests, batchSize: batchSize,
                                         checkpoint: checkpoint, progress: progress)
        var done: [ShardManifest.Entry] = []
        var failures: [ShardManifest.Failure] = []
        var reasons: [String: String] = [:]
        for failure in outcome.failures where reasons[failure.path] == nil { reasons[failure.path] = failure.description }
        for (i, path) in slice.enumerated() {
            if outcome.embeddings[i] != nil, case .success(let digest)? = digests[path] {
                done.append(.init(path: path, digest: digest))
            } else {
                failures.append(.init(path: path, reason: reasons[path] ?? "\(path): not embedded"))
            }
        }
        let manifest = ShardManifest(
            format: ShardManifest.currentFormat, shard: shard.description, index: shard.index, shards: shard.count,
            job: job, total: paths.count, first: range.lowerBound, count: range.count, done: done, failures: failures,
            cacheHits: outcome.cacheHits, computed: outcome.computed,
            host: ProcessInfo.processInfo.hostName, seconds: Date().timeIntervalSince(started))
        try AtomicFile.write(manifest.encoded(), to: manifestPath(shard))
        return manifest
    }

    /// `shard`'s manifest if it is there and belongs to this job; nil otherwise.
    public func manifest(_ shard: Shard) -> ShardManifest? {
        guard let data = FileManager.default.contents(atPath: manifestPath(shard)),
              let manifest = try? JSONDecoder().decode(ShardManifest.self, from: data),
              manifest.format == ShardManifest.currentFormat, manifest.job == job,
              manifest.index == shard.index, manifest.shards == shard.count
        else { return nil }
        let range = shard.range(in: paths.count)
        guard manifest.total == paths.count, manifest.first == range.lowerBound, manifest.count == range.count,
              manifest.done.count + manifest.failures.count == range.count
        else { return nil }
        return manifest
    }

    /// The shards of `count` with no manifest of this job: what a resumed run still has to do.
    public func pending(_ count: Int) throws -> [Shard] {
        try Shard.all(count).filter { manifest($0) == nil }
    }

    /// The merged result: exactly what a local run over `paths` gives.
    public struct Merged: Sendable {
        /// `[paths.count, channels]`, rows in list order.
        public var embeddings: [Float]
        public var channels: Int
        /// The files embedded, in list order (inputs minus failures).
        public var paths: [String]
        /// Why the others were left out, in list order.
        public var failures: [String]
        public var shards: [ShardManifest]

        public init(embeddings: [Float], channels: Int, paths: [String], failures: [String], shards: [ShardManifest]) {
            self.embeddings = embeddings
            self.channels = channels
            self.paths = paths
            self.failures = failures
            self.shards = shards
        }
    }

    /// Reads the `count` shards' manifests and their embeddings from the cache, in list order.
    /// Throws `ShardingError.incomplete` naming the shards to run again when a manifest is
    /// missing or stale, or an embedding it lists is no longer in the cache (removed, damaged).
    public func merge(_ count: Int) throws -> Merged {
        let channels = embedder.embedder.network.embeddingChannels
        let shards = try Shard.all(count)
        var manifests: [ShardManifest] = []
        var missing: [Int] = []
        for shard in shards {
            if let manifest = manifest(shard) { manifests.append(manifest) } else { missing.append(shard.index) }
        }
        guard missing.isEmpty else {
            throw ShardingError.incomplete(shards: missing, of: count, reason: "no manifest of this job in \(manifestDirectory)")
        }
        var merged = Merged(embeddings: [], channels: channels, paths: [], failures: [], shards: manifests)
        merged.embeddings.reserveCapacity(paths.count * channels)
        var lost: [Int] = []
        for manifest in manifests {
            // done and failures are each in list order: walk the shard's slice and take from both.
            var d = 0, f = 0
            let range = manifest.first..<(manifest.first + manifest.count)
            for position in range {
                let path = paths[position]
                if d < manifest.done.count, manifest.done[d].path == path {
                    let key = embedder.key(contentDigest: manifest.done[d].digest)
                    d += 1
                    guard let values = cache.load(key, count: channels) else {
                        lost.append(manifest.index)
                        break
                    }
                    merged.embeddings += values
                    merged.paths.append(path)
                } else if f < manifest.failures.count, manifest.failures[f].path == path {
                    merged.failures.append(manifest.failures[f].reason)
                    f += 1
                } else {
                    throw ShardingError.badManifest(path: manifestPath(try Shard(index: manifest.index, count: count)),
                                                    reason: "does not list \(path) (position \(position))")
                }
            }
        }
        guard lost.isEmpty else {
            // Their manifests claim entries the cache no longer holds: they must run again.
            for index in lost { try? FileManager.default.removeItem(atPath: manifestPath(try Shard(index: index, count: count))) }
            throw ShardingError.incomplete(shards: lost, of: count, reason: "embeddings missing from the cache \(cache.directory)")
        }
        return merged
    }
}
