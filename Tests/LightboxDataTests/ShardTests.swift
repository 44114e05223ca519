import Foundation
import LightboxCore
@testable import LightboxEmbedding
import LightboxImaging
import LightboxModels
import LightboxTestSupport
import XCTest
import LightboxData

final class ShardTests: TemporaryFolderTestCase {
    func testSlicesCoverTheListExactlyOnceInOrder() throws {
        for size in 0...20 {
            let items = Array(0..<size)
            for count in 1...7 {
                let shards = try Shard.all(count)
                XCTAssertEqual(shards.map(\.index), Array(0..<count))
                var joined: [Int] = []
                var next = 0
                for shard in shards {
                    let range = shard.range(in: size)
                    XCTAssertEqual(range.lowerBound, next, "shard \(shard) of \(size) items starts where the previous ended")
                    next = range.upperBound
                    joined += shard.slice(items)
                    // Balanced: sizes differ by at most one, larger shards first.
                    XCTAssertTrue([size / count, size / count + 1].contains(range.count), "\(shard) of \(size): \(range)")
                    if shard.index > 0 {
                        XCTAssertLessThanOrEqual(range.count, try Shard(index: shard.index - 1, count: count).range(in: size).count)
                    }
                }
                XCTAssertEqual(joined, items, "\(count) shards of \(size) items")
            }
        }
    }

    func testShardParsingIsZeroBased() throws {
        XCTAssertEqual(try Shard(parsing: "0/4"), try Shard(index: 0, count: 4))
        XCTAssertEqual(try Shard(parsing: "3/4").description, "3/4")
        XCTAssertEqual(try Shard(parsing: " 2 / 5 ").index, 2)
        for bad in ["4/4", "-1/4", "1/0", "0/0", "a/b", "1", "1/2/3", "", "/4", "1/"] {
            XCTAssertThrowsError(try Shard(parsing: bad), bad) { error in
                XCTAssertFalse("\(error)".isEmpty)
            }
        }
        XCTAssertThrowsError(try Shard(parsing: "4/4")) { error in
            XCTAssertTrue("\(error)".contains("from 0 to 3"), "\(error)")
        }
    }

    // MARK: - Real embeddings

    /// A dozen real X-rays, one of them listed twice, and a file that is not an image.
    func inputs() throws -> [String] {
        let folder = TorchReference.shared.appendingPathComponent("data/covid-chestxray/images")
        let names = try FileManager.default.contentsOfDirectory(atPath: folder.path).filter { $0.hasSuffix(".jpg") }.sorted()
        guard names.count >= 12 else { throw XCTSkip("needs the X-rays in ../shared/data/covid-chestxray/images") }
        let broken = work.appendingPathComponent("broken.png")
        try Data("not an image".utf8).write(to: broken)
        var paths = names.prefix(12).map { folder.appendingPathComponent($0).path }
        paths.insert(broken.path, at: 5)
        paths.append(paths[2])
        return paths
    }

    func sharded(_ paths: [String], backbone: Backbone, cache: String, manifests: String) throws -> ShardedEmbedding {
        let embedder = SampleEmbedder(embedder: backbone.embedder, cache: EmbeddingCache(directory: cache), backbone: backbone.cacheKey)
        return try ShardedEmbedding(paths: paths, embedder: embedder, manifestDirectory: manifests)
    }

    func bits(_ values: [Float]) -> [UInt32] { values.map(\.bitPattern) }

    func testMergedShardsEqualALocalRunBitForBit() throws {
        let paths = try inputs()
        let backbone = try Backbone.pretrained(Preprocessor(), weightsFolder: TestSettings.weightsFolder, decoder: ImageDecoder(maxPixels: LightboxSettings.defaultMaxPixels, dicomWindow: .first), parallelism: TestSettings.local.threads, arithmetic: .fp32)
        let local = try backbone.embedder.embed(paths: paths, batchSize: 4)
        XCTAssertEqual(local.paths.count, paths.count - 1)

        // 4 shards of 14 items (4, 4, 3, 3) with batches of 2: batches of one image happen too.
        let job = try sharded(paths, backbone: backbone, cache: work.appendingPathComponent("cache").path,
                              manifests: work.appendingPathComponent("m4").path)
        XCTAssertEqual(try job.pending(4).map(\.index), [0, 1, 2, 3])
        for index in [2, 0, 3, 1] { try job.run(try Shard(index: index, count: 4), batchSize: 3) }
        XCTAssertEqual(try job.pending(4), [])
        let merged = try job.merge(4)
        XCTAssertEqual(merged.paths, local.paths)
        XCTAssertEqual(merged.channels, local.channels)
        XCTAssertEqual(bits(merged.embeddings), bits(local.embeddings), "4 shards equal the local run bit for bit")
        XCTAssertEqual(merged.failures.count, 1)
        XCTAssertTrue(merged.failures[0].hasPrefix(work.appendingPathComponent("broken.png").path), merged.failures[0])

        // Another shard count over the same cache: every entry is a hit, the output is the same.
        let three = try sharded(paths, backbone: backbone, cache: work.appendingPathComponent("cache").path,
                                manifests: work.appendingPathComponent("m3").path)
        for shard in try Shard.all(3) {
            let manifest = try three.run(shard, batchSize: 5)
            XCTAssertEqual(manifest.computed, 0, "shard \(shard) reuses the cache")
        }
        XCTAssertEqual(bits(try three.merge(3).embeddings), bits(local.embeddings))

        // A fresh cache with 7 shards (2 items each, one batch of 1 where the broken file is).
        let seven = try sharded(paths, backbone: backbone, cache: work.appendingPathComponent("cache7").path,
                                manifests: work.appendingPathComponent("m7").path)
        for shard in try Shard.all(7) { try seven.run(shard, batchSize: 16) }
        XCTAssertEqual(bits(try seven.merge(7).embeddings), bits(local.embeddings), "7 shards, fresh cache")
    }

    func testResumeRunsOnlyMissingShardsAndLostEntriesSendTheirShardBack() throws {
        let paths = Array(try inputs().prefix(8))
        let backbone = try Backbone.pretrained(Preprocessor(), weightsFolder: TestSettings.weightsFolder, decoder: ImageDecoder(maxPixels: LightboxSettings.defaultMaxPixels, dicomWindow: .first), parallelism: TestSettings.local.threads, arithmetic: .fp32)
        let cache = work.appendingPathComponent("cache").path
        let job = try sharded(paths, backbone: backbone, cache: cache, manifests: work.appendingPathComponent("m").path)
        try job.run(try Shard(parsing: "1/4"))
        try job.run(try Shard(parsing: "3/4"))
        XCTAssertEqual(try job.pending(4).map(\.index), [0, 2])
        XCTAssertThrowsError(try job.merge(4)) { error in
            XCTAssertEqual(error as? ShardingError, .incomplete(shards: [0, 2], of: 4, reason: "no manifest of this job in \(job.manifestDirectory)"))
        }
        for shard in try job.pending(4) { try job.run(shard) }
        let before = try job.merge(4)

        // A manifest of another job (other inputs) in the same folder is not this job's.
        let other = try sharded(Array(paths.reversed()), backbone: backbone, cache: cache, manifests: job.manifestDirectory)
        XCTAssertEqual(try other.pending(4).count, 4)

        // An entry removed from the cache: merge names its shard and forgets that shard's manifest.
        let victim = before.shards[2].done[0]
        let key = EmbeddingCache.key(contentDigest: victim.digest, preprocessor: backbone.embedder.preprocessor,
                                     augmentation: nil, backbone: backbone.cacheKey)
        try FileManager.default.removeItem(atPath: job.cache.path(key))
        XCTAssertThrowsError(try job.merge(4)) { error in
            guard case .incomplete(let shards, 4, _)? = error as? ShardingError else { return XCTFail("\(error)") }
            XCTAssertEqual(shards, [2])
        }
        XCTAssertEqual(try job.pending(4).map(\.index), [2])
        let rerun = try job.run(try Shard(index: 2, count: 4))
        XCTAssertEqual(rerun.computed, 1, "only the lost entry is computed again")
        XCTAssertEqual(bits(try job.merge(4).embeddings), bits(before.embeddings))
    }
}

/// Writers on a shared file system (a Slurm job's cache): a temporary left by a dead writer on
/// this host is cleared by the next writer, another host's is not (its pid means nothing here).
final class SharedFileSystemTemporaryTests: TemporaryFolderTestCase {
    func testOnlyThisHostsDeadWritersTemporariesAreRemoved() throws {
        var dead: Int32 = 999_999
        while kill(dead, 0) == 0 || errno != ESRCH { dead -= 1 }
        let names = [".entry.bin.tmp-\(dead)-1@\(StaleTemporaries.host)",   // this host, gone: removed
                     ".entry.bin.tmp-\(dead)-2",                            // old style, no host: removed
                     ".entry.bin.tmp-\(dead)-3@some-other-node",            // another host: kept
                     ".entry.bin.tmp-\(getpid())-4@\(StaleTemporaries.host)"]  // this process: kept
        for name in names { try Data().write(to: work.appendingPathComponent(name)) }
        try AtomicFile.write(Data("x".utf8), to: work.appendingPathComponent("entry.bin").path, durable: false)
        let left = Set(try FileManager.default.contentsOfDirectory(atPath: work.path))
        XCTAssertEqual(left, ["entry.bin", names[2], names[3]])
        XCTAssertTrue(StaleTemporaries.temporaryName(for: "a").hasSuffix("@\(StaleTemporaries.host)"))
    }
}
