import Foundation
import LightboxCore
import XCTest
@testable import LightboxImaging

final class PreprocessingTests: XCTestCase {
    func constant(_ w: Int, _ h: Int, _ v: Float) -> RGBImage {
        RGBImage(width: w, height: h, pixels: [Float](repeating: v, count: w * h * 3))
    }

    func testConstantImageStaysConstantWhenShrunkOrGrown() {
        for (w, h) in [(1000, 700), (50, 30), (224, 224), (7, 300)] {
            let out = Resampler.resize(constant(w, h, 77), width: 224, height: 224)
            XCTAssertEqual(out.pixels.count, 224 * 224 * 3)
            XCTAssertLessThan(out.pixels.map { abs($0 - 77) }.max()!, 1e-3, "\(w)x\(h)")
        }
    }

    func testShrinkingByTwoAveragesPairs() {
        // A 1-pixel stripe pattern shrunk 2x must become flat grey (antialiasing), not stripes.
        // Away from the edges (where the filter is cut off and renormalised) it is exactly 100.
        var pixels = [Float]()
        for _ in 0..<16 { for x in 0..<16 { pixels += [Float](repeating: x % 2 == 0 ? 0 : 200, count: 3) } }
        let out = Resampler.resize(RGBImage(width: 16, height: 16, pixels: pixels), width: 8, height: 8)
        for y in 1..<7 { for x in 1..<7 { XCTAssertEqual(out[x, y, 0], 100, accuracy: 1e-3) } }
        // Plain bilinear sampling without widening would give 0 or 200 here.
        XCTAssertEqual(out[0, 0, 0], 600 / 7, accuracy: 1e-3)
    }

    func testCropTakesTheCentreSquare() {
        // Left third 0, middle third 100, right third 200, on a 300x100 image.
        var pixels = [Float]()
        for _ in 0..<100 { for x in 0..<300 { pixels += [Float](repeating: Float(x / 100) * 100, count: 3) } }
        let p = Preprocessor(size: 10, policy: .crop)
        let out = p.resized(RGBImage(width: 300, height: 100, pixels: pixels))
        XCTAssertEqual(out.width, 10)
        for v in out.pixels { XCTAssertEqual(v, 100, accuracy: 1e-3) }
    }

    func testPadKeepsTheWholePictureAndPadsBlack() {
        let p = Preprocessor(size: 20, policy: .pad)
        let out = p.resized(constant(200, 100, 150))
        // 200x100 -> 20x10 centred: rows 0-4 and 15-19 black, rows 5-14 the picture.
        XCTAssertEqual(out[10, 2, 0], 0)
        XCTAssertEqual(out[10, 17, 1], 0)
        XCTAssertEqual(out[0, 5, 2], 150, accuracy: 1e-3)
        XCTAssertEqual(out[19, 14, 0], 150, accuracy: 1e-3)
    }

    func testStretchFillsTheSquare() {
        let out = Preprocessor(size: 16, policy: .stretch).resized(constant(64, 8, 30))
        for v in out.pixels { XCTAssertEqual(v, 30, accuracy: 1e-3) }
    }

    func testNormalisationUsesMeanAndStd() {
        let t = Preprocessor(size: 4, policy: .stretch, normalization: .imageNet).tensor(constant(4, 4, 255))
        XCTAssertEqual(t[0], (1 - 0.485) / 0.229, accuracy: 1e-5)
        XCTAssertEqual(t[1], (1 - 0.456) / 0.224, accuracy: 1e-5)
        XCTAssertEqual(t[2], (1 - 0.406) / 0.225, accuracy: 1e-5)
        let tm = Preprocessor(size: 4, policy: .stretch, normalization: .symmetric).tensor(constant(4, 4, 0))
        XCTAssertEqual(tm[0], -1, accuracy: 1e-6)
    }

    func testDirectoriesExpandSortedAndRecursively() throws {
        let root = FileManager.default.temporaryDirectory.appendingPathComponent("lightbox-files-\(UUID().uuidString)")
        defer { try? FileManager.default.removeItem(at: root) }
        try FileManager.default.createDirectory(at: root.appendingPathComponent("b"), withIntermediateDirectories: true)
        for name in ["z.png", "a.JPG", "b/c.jpeg", ".DS_Store", "notes.txt"] {
            try Data([0]).write(to: root.appendingPathComponent(name))
        }
        let files = try ImageFiles.expand([root.path])
        XCTAssertEqual(files.map { String($0.dropFirst(root.path.count + 1)) }, ["a.JPG", "b/c.jpeg", "z.png"])
        XCTAssertThrowsError(try ImageFiles.expand([root.appendingPathComponent("missing").path]))
    }
}

final class ScaledDecodingTests: XCTestCase {
    func testReductionFollowsPillowsDraftRule() {
        let crop = DecodeTarget(size: 224, policy: .crop)
        XCTAssertEqual(crop.reduction(width: 1024, height: 1024), 4)   // 1024 // 224 = 4
        XCTAssertEqual(crop.reduction(width: 1024, height: 447), 1)    // the short side cannot shrink
        XCTAssertEqual(crop.reduction(width: 2000, height: 1800), 8)
        XCTAssertEqual(crop.reduction(width: 715, height: 645), 2)
        let pad = DecodeTarget(size: 224, policy: .pad)
        XCTAssertEqual(pad.reduction(width: 1024, height: 300), 4)     // the long side decides
        XCTAssertEqual(pad.reduction(width: 300, height: 1024), 4)
    }

    func testScaledJPEGKeepsTheTargetCovered() throws {
        // The 23x17 fixture with a 4-pixel target: 17 // 4 = 4, so a quarter-size decode (6x5).
        let path = DecodingTests.fixtures.appendingPathComponent("baseline_rgb.jpg").path
        let full = try ImageDecoder(maxPixels: LightboxSettings.defaultMaxPixels, dicomWindow: .first).decode(file: path)
        let reduced = try ImageDecoder(maxPixels: LightboxSettings.defaultMaxPixels, dicomWindow: .first).decode(file: path, reduceFor: DecodeTarget(size: 4, policy: .crop))
        XCTAssertEqual([reduced.width, reduced.height], [6, 5])
        XCTAssertGreaterThanOrEqual(min(reduced.width, reduced.height), 4)
        // Same picture, smaller: the mean colour stays.
        func mean(_ i: RGBImage) -> Float { i.pixels.reduce(0, +) / Float(i.pixels.count) }
        XCTAssertEqual(mean(reduced), mean(full), accuracy: 4)
        // PNGs are never reduced.
        let png = try ImageDecoder(maxPixels: LightboxSettings.defaultMaxPixels, dicomWindow: .first).decode(file: DecodingTests.fixtures.appendingPathComponent("rgb8.png").path,
                                            reduceFor: DecodeTarget(size: 4, policy: .crop))
        XCTAssertEqual(png.width, 23)
    }
}
