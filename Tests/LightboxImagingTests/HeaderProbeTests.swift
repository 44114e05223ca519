import Foundation
import LightboxCore
import XCTest
@testable import LightboxImaging

/// `ImageDecoder.probe` reads the size `decode` will return and what decoding will cost from
/// the header alone, and refuses what `decode` refuses from the header, with the same error.
final class HeaderProbeTests: XCTestCase {
    func fixture(_ name: String) throws -> [UInt8] {
        [UInt8](try Data(contentsOf: DecodingTests.fixtures.appendingPathComponent(name)))
    }

    func xray(_ name: String) throws -> [UInt8] {
        let url = TruncatedImageTests.images.appendingPathComponent(name)
        guard let data = FileManager.default.contents(atPath: url.path) else {
            throw XCTSkip("the developer data set is not at \(url.path)")
        }
        return [UInt8](data)
    }

    func assertAgrees(_ bytes: [UInt8], _ name: String, target: DecodeTarget? = nil,
                      file: StaticString = #filePath, line: UInt = #line) throws {
        let header = try ImageDecoder(maxPixels: LightboxSettings.defaultMaxPixels, dicomWindow: .first).probe(data: bytes, path: name, reduceFor: target)
        let image = try ImageDecoder(maxPixels: LightboxSettings.defaultMaxPixels, dicomWindow: .first).decode(data: bytes, path: name, reduceFor: target)
        XCTAssertEqual([header.width, header.height], [image.width, image.height], name, file: file, line: line)
        XCTAssertEqual(header.format, ImageFormat(sniffing: bytes), name, file: file, line: line)
        // At least the Float RGB picture and a byte a sample of decode buffer.
        XCTAssertGreaterThanOrEqual(header.decodeBytes, image.width * image.height * 15, name, file: file, line: line)
    }

    func testEveryFixtureAgreesWithDecode() throws {
        let names = try FileManager.default.contentsOfDirectory(atPath: DecodingTests.fixtures.path)
            .filter { $0.hasSuffix(".png") || $0.hasSuffix(".jpg") }.sorted()
        XCTAssertGreaterThanOrEqual(names.count, 15)
        for name in names { try assertAgrees(try fixture(name), name) }
    }

    func testRealXraysAgreeWithDecode() throws {
        for name in ["289cb15b.jpg", "076d9f1ab85d17bcf0f4f207891974_jumbo.jpg", "16745_5_2.png"] {
            let bytes = try xray(name)
            try assertAgrees(bytes, name)
            // Scaled JPEG decoding (1024 pixels for a 224 crop: 1/4) is reflected in the size.
            try assertAgrees(bytes, name, target: DecodeTarget(size: 224, policy: .crop))
            try assertAgrees(bytes, name, target: DecodeTarget(size: 224, policy: .pad))
        }
    }

    func testDecodeBytesByFormat() throws {
        let pixels = 23 * 17
        XCTAssertEqual(try ImageDecoder(maxPixels: LightboxSettings.defaultMaxPixels, dicomWindow: .first).probe(data: try fixture("rgb8.png"), path: "a").decodeBytes, pixels * (12 + 4))
        XCTAssertEqual(try ImageDecoder(maxPixels: LightboxSettings.defaultMaxPixels, dicomWindow: .first).probe(data: try fixture("palette.png"), path: "a").decodeBytes, pixels * (12 + 4))
        XCTAssertEqual(try ImageDecoder(maxPixels: LightboxSettings.defaultMaxPixels, dicomWindow: .first).probe(data: try fixture("gray16.png"), path: "a").decodeBytes, pixels * (12 + 6))
        XCTAssertEqual(try ImageDecoder(maxPixels: LightboxSettings.defaultMaxPixels, dicomWindow: .first).probe(data: try fixture("baseline_rgb.jpg"), path: "a").decodeBytes, pixels * (12 + 3))
        XCTAssertEqual(try ImageDecoder(maxPixels: LightboxSettings.defaultMaxPixels, dicomWindow: .first).probe(data: try fixture("cmyk.jpg"), path: "a").decodeBytes, pixels * (12 + 4))
        // Progressive: plus libjpeg's coefficient buffer (2 bytes a sample of every component).
        XCTAssertGreaterThan(try ImageDecoder(maxPixels: LightboxSettings.defaultMaxPixels, dicomWindow: .first).probe(data: try fixture("progressive_rgb.jpg"), path: "a").decodeBytes,
                             pixels * (12 + 3) + pixels * 2)
    }

    /// `baseline_rgb.jpg` with an APP1 Exif segment saying orientation 6 (turn 90 degrees clockwise).
    func exifRotated() throws -> [UInt8] {
        let jpeg = try fixture("baseline_rgb.jpg")
        let tiff: [UInt8] = [0x4D, 0x4D, 0x00, 0x2A, 0, 0, 0, 8,            // big-endian, IFD at 8
                             0, 1,                                          // one entry
                             0x01, 0x12, 0, 3, 0, 0, 0, 1, 0, 6, 0, 0,      // Orientation, SHORT, 1, value 6
                             0, 0, 0, 0]                                    // no next IFD
        let payload = Array("Exif\0\0".utf8) + tiff
        let length = payload.count + 2
        return [0xFF, 0xD8, 0xFF, 0xE1, UInt8(length >> 8), UInt8(length & 0xFF)] + payload + Array(jpeg.dropFirst(2))
    }

    func testExifOrientationTurnsTheSizeAndCostsACopy() throws {
        let rotated = try exifRotated()
        try assertAgrees(rotated, "rotated.jpg")
        let header = try ImageDecoder(maxPixels: LightboxSettings.defaultMaxPixels, dicomWindow: .first).probe(data: rotated, path: "rotated.jpg")
        XCTAssertEqual([header.width, header.height], [17, 23])
        XCTAssertEqual(header.decodeBytes, 23 * 17 * (3 + 12 + 12))
    }

    func testRefusesWhatDecodeRefusesWithTheSameError() throws {
        let png = try fixture("rgb8.png"), jpeg = try fixture("baseline_rgb.jpg")
        let cases: [(String, [UInt8])] = [
            ("empty.png", []),
            ("text.png", Array("just some text\n".utf8)),
            ("signature-only.png", Array(png.prefix(8))),
            ("ihdr-cut.png", Array(png.prefix(20))),
            ("header-only.jpg", Array(jpeg.prefix(20))),
            ("tables-only.jpg", Array(jpeg.prefix(150))),
            ("bomb.png", pngHeader(width: 100_000, height: 100_000)),
        ]
        for (name, bytes) in cases {
            var decodeError: ImageDecodingError?
            XCTAssertThrowsError(try ImageDecoder(maxPixels: LightboxSettings.defaultMaxPixels, dicomWindow: .first).decode(data: bytes, path: name), name) { decodeError = $0 as? ImageDecodingError }
            XCTAssertThrowsError(try ImageDecoder(maxPixels: LightboxSettings.defaultMaxPixels, dicomWindow: .first).probe(data: bytes, path: name), name) { error in
                XCTAssertEqual((error as? ImageDecodingError)?.description, decodeError?.description, name)
            }
        }
        XCTAssertThrowsError(try ImageDecoder(maxPixels: LightboxSettings.defaultMaxPixels, dicomWindow: .first).probe(data: pngHeader(width: 100_000, height: 100_000), path: "bomb.png")) {
            XCTAssertEqual(($0 as? ImageDecodingError)?.reason, .tooLarge(width: 100_000, height: 100_000, limit: ImageDecoder(maxPixels: LightboxSettings.defaultMaxPixels, dicomWindow: .first).maxPixels))
        }
        XCTAssertThrowsError(try ImageDecoder(maxPixels: 100, dicomWindow: .first).probe(data: jpeg, path: "j")) {
            XCTAssertEqual(($0 as? ImageDecodingError)?.reason, .tooLarge(width: 23, height: 17, limit: 100))
        }
    }

    // Without a pixel limit, a 100,000 x 100,000 header is measured, never allocated: decoding
    // it would need 160 GB (this machine has far less), so returning at all shows nothing was.
    func testHugeHeaderIsMeasuredWithoutAllocating() throws {
        let header = try ImageDecoder(maxPixels: .max, dicomWindow: .first).probe(data: pngHeader(width: 100_000, height: 100_000), path: "bomb.png")
        XCTAssertEqual([header.width, header.height], [100_000, 100_000])
        XCTAssertEqual(header.decodeBytes, 100_000 * 100_000 * 16)
    }

    /// A PNG whose IHDR declares `width` x `height` 8-bit RGB, followed by a token IDAT.
    func pngHeader(width: Int, height: Int) -> [UInt8] {
        func be32(_ v: Int) -> [UInt8] { [24, 16, 8, 0].map { UInt8((v >> $0) & 0xFF) } }
        func chunk(_ kind: String, _ data: [UInt8]) -> [UInt8] {
            let body = Array(kind.utf8) + data
            return be32(data.count) + body + be32(Int(crc32(body)))
        }
        return [0x89, 0x50, 0x4E, 0x47, 0x0D, 0x0A, 0x1A, 0x0A]
            + chunk("IHDR", be32(width) + be32(height) + [8, 2, 0, 0, 0])
            + chunk("IDAT", [0x78, 0x9C, 0x63, 0x00, 0x00, 0x00, 0x01, 0x00, 0x01])
            + chunk("IEND", [])
    }

    func crc32(_ bytes: [UInt8]) -> UInt32 {
        var crc: UInt32 = 0xFFFF_FFFF
        for b in bytes {
            crc ^= UInt32(b)
            for _ in 0..<8 { crc = crc & 1 == 1 ? (crc >> 1) ^ 0xEDB8_8320 : crc >> 1 }
        }
        return ~crc
    }
}
