import Foundation
@testable import LightboxEmbedding
import LightboxImaging
import LightboxTestSupport
import XCTest
@testable import LightboxData

final class CacheAndDuplicateTests: TemporaryFolderTestCase {
    func testCacheRoundTripAndCorruptEntriesAreDropped() throws {
        let cache = EmbeddingCache(directory: work.path)
        let key = EmbeddingCache.key(contentDigest: "abc", preprocessor: Preprocessor(), augmentation: nil, backbone: "b")
        XCTAssertNil(cache.load(key, count: 4))
        try cache.store(key, [1, 2, 3, 4.5])
        XCTAssertEqual(cache.load(key, count: 4), [1, 2, 3, 4.5])
        XCTAssertNil(cache.load(key, count: 5), "a wrong size is not trusted")

        try cache.store(key, [1, 2, 3, 4.5])
        let file = cache.path(key)
        var bytes = [UInt8](try Data(contentsOf: URL(fileURLWithPath: file)))
        bytes[12] ^= 0x01
        try Data(bytes).write(to: URL(fileURLWithPath: file))
        XCTAssertNil(cache.load(key, count: 4), "a flipped bit fails the checksum")
        XCTAssertFalse(FileManager.default.fileExists(atPath: file), "the damaged entry is removed")

        // Keys change with anything that changes the embedding.
        let other = EmbeddingCache.key(contentDigest: "abc", preprocessor: Preprocessor(policy: .pad), augmentation: nil, backbone: "b")
        XCTAssertNotEqual(key, other)
    }

    func testDuplicatesAreReportedAndConflictsDropped() throws {
        func write(_ name: String, _ text: String) throws -> String {
            let url = work.appendingPathComponent(name)
            try Data(text.utf8).write(to: url)
            return url.path
        }
        let a1 = try write("a1.png", "same"), a2 = try write("a2.png", "same")
        let b1 = try write("b1.png", "clash"), c1 = try write("c1.png", "clash")
        let lone = try write("lone.png", "unique")
        let dataset = Dataset(images: [
            LabeledImage(path: a1, label: "A", group: a1), LabeledImage(path: a2, label: "A", group: a2),
            LabeledImage(path: b1, label: "A", group: b1), LabeledImage(path: c1, label: "B", group: c1),
            LabeledImage(path: lone, label: "B", group: lone),
        ], skipped: [], hasGroups: false, source: "test")
        let filtered = DuplicateFilter.apply(dataset, digests: ContentDigests.compute(dataset.images.map(\.path), threads: TestSettings.local.threads))
        XCTAssertEqual(filtered.images.map(\.path), [a1, lone])
        XCTAssertTrue(filtered.skipped.contains { $0.item == a2 && $0.reason.hasPrefix("duplicate of") })
        XCTAssertEqual(filtered.skipped.filter { $0.reason.hasPrefix("same image under another class") }.count, 2)
    }
}
