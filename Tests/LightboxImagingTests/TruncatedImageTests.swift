import Foundation
import LightboxCore
import XCTest
@testable import LightboxImaging

/// Real X-rays cut short are refused as truncated, as Pillow refuses them ("image file is
/// truncated"); libjpeg's benign warnings still decode, as they do in Pillow.
final class TruncatedImageTests: XCTestCase {
    static let images = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
        .deletingLastPathComponent().deletingLastPathComponent().appendingPathComponent("shared/data/covid-chestxray/images")

    func xray(_ name: String) throws -> [UInt8] {
        let url = Self.images.appendingPathComponent(name)
        guard let data = FileManager.default.contents(atPath: url.path) else {
            throw XCTSkip("the developer data set is not at \(url.path)")
        }
        return [UInt8](data)
    }

    func assertTruncated(_ bytes: [UInt8], _ name: String, file: StaticString = #filePath, line: UInt = #line) {
        XCTAssertThrowsError(try ImageDecoder(maxPixels: LightboxSettings.defaultMaxPixels, dicomWindow: .first).decode(data: bytes, path: name), name, file: file, line: line) { error in
            guard let e = error as? ImageDecodingError else { return XCTFail("\(error)", file: file, line: line) }
            guard case .truncated = e.reason else { return XCTFail("\(name): \(e.reason)", file: file, line: line) }
            XCTAssertTrue(e.description.hasPrefix("\(name): image file is truncated"), e.description, file: file, line: line)
        }
    }

    /// The bytes of `jpeg` with `extra` inserted just before its first scan (SOS marker).
    func insertingBeforeScan(_ jpeg: [UInt8], _ extra: [UInt8]) -> [UInt8] {
        let sos = (0..<(jpeg.count - 1)).first { jpeg[$0] == 0xFF && jpeg[$0 + 1] == 0xDA }!
        return Array(jpeg[..<sos]) + extra + Array(jpeg[sos...])
    }

    // A baseline grey JPEG (1024x1024) cut to a third and to two thirds.
    func testBaselineJPEGCutShort() throws {
        let jpeg = try xray("289cb15b.jpg")
        XCTAssertNoThrow(try ImageDecoder(maxPixels: LightboxSettings.defaultMaxPixels, dicomWindow: .first).decode(data: jpeg, path: "whole.jpg"))
        assertTruncated(Array(jpeg.prefix(jpeg.count / 3)), "third.jpg")
        assertTruncated(Array(jpeg.prefix(jpeg.count * 2 / 3)), "two-thirds.jpg")
        assertTruncated(Array(jpeg.dropLast(2)), "no-end-marker.jpg")
        // Scaled decoding stops early in the data, but the file is still incomplete.
        XCTAssertThrowsError(try ImageDecoder(maxPixels: LightboxSettings.defaultMaxPixels, dicomWindow: .first).decode(data: Array(jpeg.prefix(jpeg.count / 3)), path: "x.jpg",
                                                       reduceFor: DecodeTarget(size: 224, policy: .crop)))
    }

    // A progressive colour JPEG: its later scans missing.
    func testProgressiveJPEGCutShort() throws {
        let jpeg = try xray("076d9f1ab85d17bcf0f4f207891974_jumbo.jpg")
        XCTAssertNoThrow(try ImageDecoder(maxPixels: LightboxSettings.defaultMaxPixels, dicomWindow: .first).decode(data: jpeg, path: "whole.jpg"))
        assertTruncated(Array(jpeg.prefix(jpeg.count / 3)), "third.jpg")
    }

    func testPNGCutShort() throws {
        let png = try xray("16745_5_2.png")
        XCTAssertNoThrow(try ImageDecoder(maxPixels: LightboxSettings.defaultMaxPixels, dicomWindow: .first).decode(data: png, path: "whole.png"))
        assertTruncated(Array(png.prefix(png.count / 3)), "third.png")
        assertTruncated(Array(png.prefix(png.count * 2 / 3)), "two-thirds.png")
    }

    // libjpeg warns "3 extraneous bytes before marker 0xda" and decodes the picture whole;
    // Pillow opens it too, so it is not refused.
    func testExtraneousBytesStillDecode() throws {
        let jpeg = try xray("289cb15b.jpg")
        let original = try ImageDecoder(maxPixels: LightboxSettings.defaultMaxPixels, dicomWindow: .first).decode(data: jpeg, path: "a.jpg")
        let padded = try ImageDecoder(maxPixels: LightboxSettings.defaultMaxPixels, dicomWindow: .first).decode(data: insertingBeforeScan(jpeg, [0x00, 0x11, 0x22]), path: "b.jpg")
        XCTAssertEqual(padded, original)
    }

    // libjpeg reports only its first warning: the extraneous bytes. The file is still cut short.
    func testTruncationAfterAnotherWarning() throws {
        let jpeg = insertingBeforeScan(try xray("289cb15b.jpg"), [0x00, 0x11, 0x22])
        assertTruncated(Array(jpeg.prefix(jpeg.count / 3)), "padded-third.jpg")
    }

    func testEndOfImageWalk() throws {
        let jpeg = try xray("289cb15b.jpg")
        XCTAssertTrue(JPEGStructure.reachesEndOfImage(jpeg))
        XCTAssertTrue(JPEGStructure.reachesEndOfImage(jpeg + Array("trailing bytes".utf8)))
        XCTAssertFalse(JPEGStructure.reachesEndOfImage(Array(jpeg.dropLast(2))))
        XCTAssertFalse(JPEGStructure.reachesEndOfImage(Array(jpeg.prefix(200))))
    }
}
