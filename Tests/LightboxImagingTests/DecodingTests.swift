import Foundation
import LightboxCore
import XCTest
@testable import LightboxImaging

/// Every PNG/JPEG variant in Fixtures/ (made by scripts/fixtures/make_image_fixtures.py)
/// decodes to the pixels recorded in expected.json.
final class DecodingTests: XCTestCase {
    static let fixtures = URL(fileURLWithPath: #filePath).deletingLastPathComponent().appendingPathComponent("Fixtures")

    struct Expected: Decodable {
        var width: Int, height: Int, tolerance: Float
        var pixels: [Float]
    }

    func expectations() throws -> [String: Expected] {
        let data = try Data(contentsOf: Self.fixtures.appendingPathComponent("expected.json"))
        return try JSONDecoder().decode([String: Expected].self, from: data)
    }

    func testEveryFixtureDecodesToItsPixels() throws {
        let all = try expectations()
        XCTAssertGreaterThanOrEqual(all.count, 17)
        for (name, expected) in all.sorted(by: { $0.key < $1.key }) {
            let image = try ImageDecoder(maxPixels: LightboxSettings.defaultMaxPixels, dicomWindow: .first).decode(file: Self.fixtures.appendingPathComponent(name).path)
            XCTAssertEqual(image.width, expected.width, name)
            XCTAssertEqual(image.height, expected.height, name)
            var worst: Float = 0
            for i in 0..<expected.pixels.count {
                let want = expected.pixels[i], got = image.pixels[i]
                worst = max(worst, abs(got - want))
            }
            XCTAssertLessThanOrEqual(worst, expected.tolerance, "\(name): max difference \(worst)")
        }
    }

    func testSixteenBitSamplesKeepTheirPrecision() throws {
        let image = try ImageDecoder(maxPixels: LightboxSettings.defaultMaxPixels, dicomWindow: .first).decode(file: Self.fixtures.appendingPathComponent("gray16.png").path)
        // 16-bit values divided by 257 are rarely whole numbers: an 8-bit read would lose that.
        XCTAssertTrue(image.pixels.contains { $0 != $0.rounded() })
    }

    func testFormatIsChosenByContentNotName() throws {
        let bytes = [UInt8](try Data(contentsOf: Self.fixtures.appendingPathComponent("jpeg_named.png")))
        XCTAssertEqual(ImageFormat(sniffing: bytes), .jpeg)
    }
}
