import Foundation
import LightboxCore
import XCTest
@testable import LightboxImaging

/// Bad files give an ImageDecodingError naming the file and the problem; nothing crashes.
final class BadInputTests: XCTestCase {
    var directory: URL!

    override func setUpWithError() throws {
        directory = FileManager.default.temporaryDirectory.appendingPathComponent("lightbox-bad-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
    }

    override func tearDownWithError() throws {
        try? FileManager.default.removeItem(at: directory)
    }

    func write(_ name: String, _ bytes: [UInt8]) throws -> String {
        let url = directory.appendingPathComponent(name)
        try Data(bytes).write(to: url)
        return url.path
    }

    func fixture(_ name: String) throws -> [UInt8] {
        [UInt8](try Data(contentsOf: DecodingTests.fixtures.appendingPathComponent(name)))
    }

    func assertFails(_ path: String, _ check: (ImageDecodingError.Reason) -> Bool,
                     file: StaticString = #filePath, line: UInt = #line) {
        do {
            _ = try ImageDecoder(maxPixels: LightboxSettings.defaultMaxPixels, dicomWindow: .first).decode(file: path)
            XCTFail("\(path) decoded but should not", file: file, line: line)
        } catch let error as ImageDecodingError {
            XCTAssertEqual(error.path, path, file: file, line: line)
            XCTAssertTrue(error.description.hasPrefix(path + ": "), error.description, file: file, line: line)
            XCTAssertTrue(check(error.reason), "unexpected reason: \(error.reason)", file: file, line: line)
        } catch {
            XCTFail("unexpected error type \(error)", file: file, line: line)
        }
    }

    func testEmptyFile() throws {
        assertFails(try write("empty.png", []), { $0 == .empty })
    }

    func testTextNamedPNG() throws {
        assertFails(try write("notes.png", Array("just some text\n".utf8)), { $0 == .unknownFormat })
    }

    func testMissingFile() {
        assertFails(directory.appendingPathComponent("absent.jpg").path, {
            if case .unreadable = $0 { return true } else { return false }
        })
    }

    func testTruncatedPNG() throws {
        let png = try fixture("rgb8.png")
        assertFails(try write("cut.png", Array(png.prefix(png.count / 2))), {
            if case .truncated = $0 { return true } else { return false }
        })
    }

    func testPNGWithBadCRC() throws {
        var png = try fixture("rgb16.png")
        png[40] ^= 0xFF  // inside the IDAT chunk: its CRC no longer matches
        assertFails(try write("crc.png", png), {
            if case .corrupt = $0 { return true } else { return false }
        })
    }

    func testHeaderOnlyJPEG() throws {
        let jpeg = try fixture("baseline_rgb.jpg")
        assertFails(try write("cut.jpg", Array(jpeg.prefix(20))), {
            if case .corrupt = $0 { return true } else { return false }
        })
    }

    func testPixelLimitRefusesBeforeDecoding() throws {
        let path = DecodingTests.fixtures.appendingPathComponent("rgb8.png").path
        XCTAssertThrowsError(try ImageDecoder(maxPixels: 100, dicomWindow: .first).decode(file: path)) { error in
            XCTAssertEqual((error as? ImageDecodingError)?.reason, .tooLarge(width: 23, height: 17, limit: 100))
        }
        let jpeg = DecodingTests.fixtures.appendingPathComponent("gray.jpg").path
        XCTAssertThrowsError(try ImageDecoder(maxPixels: 100, dicomWindow: .first).decode(file: jpeg))
    }
}
