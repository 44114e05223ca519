import Foundation
import XCTest
import ZIPFoundation
@testable import LightboxModels

/// BoundedUnzip's rules one by one (the CLI tests drive real bombs through `predict`).
final class BoundedUnzipTests: XCTestCase {
    func testPathRules() {
        for safe in ["model.json", "export/weights.bin", "a/b/c.txt", "..hidden", "x..y/z"] {
            XCTAssertTrue(BoundedUnzip.isSafe(safe), safe)
        }
        for unsafe in ["", "/etc/passwd", "\\windows", "../x", "a/../../x", "a\\..\\x", "C:/x", "a/\0b"] {
            XCTAssertFalse(BoundedUnzip.isSafe(unsafe), unsafe)
        }
    }

    /// An honest zip is unpacked whole under the limit and refused, before writing, over it.
    func testDeclaredTotalAgainstTheLimit() throws {
        let work = FileManager.default.temporaryDirectory.appendingPathComponent("lightbox-unzip-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: work, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: work) }
        let zip = work.appendingPathComponent("two.zip")
        let archive = try Archive(url: zip, accessMode: .create)
        let size = 3 << 20
        for name in ["a/one.bin", "two.bin"] {
            try archive.addEntry(with: name, type: .file, uncompressedSize: Int64(size), compressionMethod: .deflate) { position, count in
                Data(repeating: UInt8(truncatingIfNeeded: position / 4096), count: count)
            }
        }
        let whole = work.appendingPathComponent("whole")
        try BoundedUnzip.extract(zip.path, to: whole, limit: 6 << 20)
        XCTAssertEqual(try Data(contentsOf: whole.appendingPathComponent("a/one.bin")).count, size)
        XCTAssertEqual(try Data(contentsOf: whole.appendingPathComponent("two.bin")).count, size)

        let refused = work.appendingPathComponent("refused")
        XCTAssertThrowsError(try BoundedUnzip.extract(zip.path, to: refused, limit: 5 << 20)) {
            XCTAssertEqual("\($0)", "\(zip.path): its files would unpack to \(2 * size) bytes, over the limit of 5 MiB; refusing to unpack it")
        }
        XCTAssertFalse(FileManager.default.fileExists(atPath: refused.appendingPathComponent("a/one.bin").path))
    }

    /// A zip of `count` one-byte entries spread over `folders` folders.
    func manyEntries(_ count: Int, folders: Int, in work: URL) throws -> URL {
        let zip = work.appendingPathComponent("many-\(count).zip")
        let archive = try Archive(url: zip, accessMode: .create)
        for k in 0..<count {
            try archive.addEntry(with: "f\(k % folders)/\(k).txt", type: .file, uncompressedSize: Int64(1), compressionMethod: .none) { _, _ in
                Data("x".utf8)
            }
        }
        return zip
    }

    /// More entries than `maxEntries` are refused before anything is written; under the bound,
    /// unpacking is one pass that creates each file once and each folder once (the work grows
    /// with the entries; each file used to be an atomic write, a temporary and a rename).
    func testEntryCountIsBoundedAndUnpackingCreatesEachThingOnce() throws {
        let work = FileManager.default.temporaryDirectory.appendingPathComponent("lightbox-unzip-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: work, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: work) }
        let over = try manyEntries(BoundedUnzip.maxEntries + 1, folders: 3, in: work)
        let refused = work.appendingPathComponent("refused")
        XCTAssertThrowsError(try BoundedUnzip.extract(over.path, to: refused, limit: 1 << 20)) {
            XCTAssertEqual("\($0)", "\(over.path): holds more than \(BoundedUnzip.maxEntries) entries, more than a model has; refusing to unpack it")
        }
        XCTAssertFalse(FileManager.default.fileExists(atPath: refused.path))
        for (count, folders) in [(100, 3), (600, 7)] {
            let zip = try manyEntries(count, folders: folders, in: work)
            let created = try BoundedUnzip.extract(zip.path, to: work.appendingPathComponent("out-\(count)"), limit: 1 << 20, maxEntries: count)
            XCTAssertEqual(created, BoundedUnzip.Created(files: count, folders: folders))
            XCTAssertEqual(try FileManager.default.contentsOfDirectory(atPath: work.appendingPathComponent("out-\(count)/f1").path).count,
                           (count + folders - 2) / folders)
        }
    }
}
