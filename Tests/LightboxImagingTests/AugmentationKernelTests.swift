import Foundation
import LightboxCore
import LightboxTestSupport
import XCTest
@testable import LightboxImaging

/// Fine-tuning's augmentation kernel (a draw from `AugmentationRanges.fineTuning`): the identity changes nothing, geometry fills with black,
/// contrast turns about the picture's mean, and the whole normalised output matches torch's
/// grid_sample in float64 (scripts/reference/augment_reference.py) within 1e-4.
final class AugmentationKernelTests: TemporaryFolderTestCase {
    /// A 32x32 grey ramp (values 64...191, so no contrast change below clips).
    func ramp() -> ByteImage {
        var pixels: [Float] = []
        for y in 0..<32 { for x in 0..<32 { for _ in 0..<3 { pixels.append(64 + Float(x + y) * 2) } } }
        return ByteImage(RGBImage(width: 32, height: 32, pixels: pixels))
    }

    func testIdentityChangesNothing() {
        let image = ramp()
        let out = AugmentationDraw.identity.apply(to: image)
        for (a, b) in zip(out.pixels, image.rgbImage.pixels) { XCTAssertEqual(a, b, accuracy: 1e-3) }
    }

    func testShiftMovesThePictureAndFillsWithBlack() {
        var shift = AugmentationDraw.identity
        shift.shiftX = 0.25  // 8 pixels right
        let out = shift.apply(to: ramp()), image = ramp().rgbImage
        for y in 0..<32 {
            for x in 0..<7 { XCTAssertEqual(out[x, y, 0], 0, "black where nothing was: \(x), \(y)") }
            for x in 8..<32 { XCTAssertEqual(out[x, y, 1], image[x - 8, y, 1], accuracy: 1e-3) }
        }
    }

    func testContrastTurnsAboutTheMeanAndBrightnessAdds() {
        var change = AugmentationDraw.identity
        change.contrast = 1.2
        change.brightness = 0.05
        let image = ramp().rgbImage, out = change.apply(to: ramp())
        let mean = image.pixels.reduce(0, +) / Float(image.pixels.count)
        for (a, b) in zip(out.pixels, image.pixels) { XCTAssertEqual(a, (b - mean) * 1.2 + mean + 0.05 * 255, accuracy: 1e-2) }
    }

    func testDrawsStayInTheRecipesRanges() {
        var g = SeededGenerator(seed: 1, stream: "augment-test")
        for _ in 0..<200 {
            let d = AugmentationDraw(ranges: .fineTuning, generator: &g)
            XCTAssertTrue(abs(d.rotation) <= 10 && abs(d.shiftX) <= 0.08 && abs(d.shiftY) <= 0.08)
            XCTAssertTrue((0.9...1.1).contains(d.zoom) && abs(d.brightness) <= 0.1 && (0.8...1.2).contains(d.contrast))
        }
    }


    /// Seeded colour noise (every channel different), `width` x `height`.
    func noise(width: Int, height: Int) -> ByteImage {
        var g = SeededGenerator(seed: 7, stream: "augment-noise")
        let pixels = (0..<(width * height * 3)).map { _ in Float(Int(g.unit() * 256) & 255) }
        return ByteImage(RGBImage(width: width, height: height, pixels: pixels))
    }

    func testMatchesTorchGridSample() throws {
        let python = try TorchReference.requirePython()
        var pictures: [(String, ByteImage)] = [("noise_37x23", noise(width: 37, height: 23)), ("noise_224", noise(width: 224, height: 224))]
        if FileManager.default.fileExists(atPath: TorchReference.xray.path) {
            let preprocessor = Preprocessor()
            pictures.append(("xray_224", ByteImage(preprocessor.resized(try ImageDecoder(maxPixels: LightboxSettings.defaultMaxPixels, dicomWindow: .first).decode(file: TorchReference.xray.path)))))
        }
        var draws: [(String, AugmentationDraw)] = [
            ("identity", .identity),
            ("extreme", AugmentationDraw(rotation: 10, shiftX: 0.08, shiftY: -0.08, zoom: 0.9, brightness: 0.1, contrast: 1.2)),
            ("other_extreme", AugmentationDraw(rotation: -10, shiftX: -0.08, shiftY: 0.08, zoom: 1.1, brightness: -0.1, contrast: 0.8)),
            ("quarter_turn", AugmentationDraw(rotation: 90, shiftX: 0, shiftY: 0, zoom: 1, brightness: 0, contrast: 1)),
            ("gone", AugmentationDraw(rotation: 0, shiftX: 1.5, shiftY: 0, zoom: 1, brightness: 0.05, contrast: 1)),
        ]
        var g = SeededGenerator(seed: 3, stream: "augment-reference")
        for i in 0..<5 { draws.append(("draw\(i)", AugmentationDraw(ranges: .fineTuning, generator: &g))) }

        let folder = work.appendingPathComponent("augment")
        try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
        var cases: [[String: Any]] = []
        for (pictureName, picture) in pictures {
            try Data(picture.samples).write(to: folder.appendingPathComponent("\(pictureName).input.u8"))
            for (drawName, d) in draws {
                let name = "\(pictureName)-\(drawName)"
                try FileManager.default.copyItem(at: folder.appendingPathComponent("\(pictureName).input.u8"),
                                                 to: folder.appendingPathComponent("\(name).input.u8"))
                cases.append(["name": name, "width": picture.width, "height": picture.height, "rotation": d.rotation,
                              "shift_x": d.shiftX, "shift_y": d.shiftY, "zoom": d.zoom, "brightness": d.brightness,
                              "contrast": d.contrast])
            }
        }
        let normalization = ChannelNormalization.imageNet
        let spec: [String: Any] = ["cases": cases, "mean": normalization.mean.map(Double.init), "std": normalization.std.map(Double.init)]
        try JSONSerialization.data(withJSONObject: spec).write(to: folder.appendingPathComponent("cases.json"))
        let (status, message) = try ReferenceScript.run(python, [TorchReference.script("augment_reference.py"), folder.path])
        XCTAssertEqual(status, 0, "augment_reference.py failed: \(message)")
        guard status == 0 else { return }

        for (pictureName, picture) in pictures {
            for (drawName, d) in draws {
                let name = "\(pictureName)-\(drawName)"
                let expected = try Data(contentsOf: folder.appendingPathComponent("\(name).expected.f32")).withUnsafeBytes { Array($0.bindMemory(to: Float.self)) }
                var ours = [Float](repeating: .nan, count: picture.samples.count)
                ours.withUnsafeMutableBufferPointer { d.write(picture, normalizedBy: normalization, to: $0.baseAddress!) }
                XCTAssertEqual(expected.count, ours.count, name)
                let largest = zip(ours, expected).map { abs($0 - $1) }.max() ?? .infinity
                XCTAssertLessThan(largest, 1e-4, "\(name): differs from torch by up to \(largest)")
            }
        }
    }
}
