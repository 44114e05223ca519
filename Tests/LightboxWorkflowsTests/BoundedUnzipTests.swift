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
}
