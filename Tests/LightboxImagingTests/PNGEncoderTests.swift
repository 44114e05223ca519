import Foundation
import LightboxCore
import XCTest
@testable import LightboxImaging

/// PNGEncoder writes in one compression into a buffer of the PNG's upper bound (a second one
/// only when a large picture's first guess is short): every case decodes back to its pixels.
final class PNGEncoderTests: XCTestCase {
    func roundTrip(width: Int, height: Int, _ pixel: (Int) -> UInt8, file: StaticString = #filePath, line: UInt = #line) throws {
        let rgb = (0..<(width * height * 3)).map(pixel)
        let png = try PNGEncoder.encode(rgb: rgb, width: width, height: height)
        let back = try ImageDecoder(maxPixels: LightboxSettings.defaultMaxPixels, dicomWindow: .first).decode(data: [UInt8](png), path: "round trip")
        XCTAssertEqual([back.width, back.height], [width, height], file: file, line: line)
        XCTAssertEqual(back.pixels.map { UInt8($0) }, rgb, file: file, line: line)
    }

    func testNoiseAndFlatPicturesComeBackExactly() throws {
        var random = SplitMix(seed: 7)
        // Noise does not compress: the PNG is at its upper bound.
        try roundTrip(width: 224, height: 224) { _ in UInt8(truncatingIfNeeded: random.next()) }
        try roundTrip(width: 1, height: 1) { $0 == 0 ? 255 : 0 }
        try roundTrip(width: 300, height: 7) { UInt8($0 % 256) }
    }

    func testALargeNoisyPictureNeedsTheSecondWrite() throws {
        // Over 16 MiB of noise: the first buffer (a quarter) is short, libpng names the size.
        var random = SplitMix(seed: 11)
        try roundTrip(width: 2400, height: 2400) { _ in UInt8(truncatingIfNeeded: random.next()) }
    }
}

/// A small seeded generator for the test's noise.
private struct SplitMix {
    var state: UInt64
    init(seed: UInt64) { state = seed }
    mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }
}
