import LightboxCore
import XCTest
@testable import LightboxImaging

/// Fine-tuning's augmentation: the identity changes nothing, geometry fills with black, and
/// contrast turns about the picture's mean.
final class FineTuneAugmentationTests: XCTestCase {
    /// A 32x32 grey ramp (values 64...191, so no contrast change below clips).
    func ramp() -> RGBImage {
        var pixels: [Float] = []
        for y in 0..<32 { for x in 0..<32 { for _ in 0..<3 { pixels.append(64 + Float(x + y) * 2) } } }
        return RGBImage(width: 32, height: 32, pixels: pixels)
    }

    func testIdentityChangesNothing() {
        let image = ramp()
        let out = FineTuneAugmentation.identity.apply(to: image)
        for (a, b) in zip(out.pixels, image.pixels) { XCTAssertEqual(a, b, accuracy: 1e-3) }
    }

    func testShiftMovesThePictureAndFillsWithBlack() {
        var shift = FineTuneAugmentation.identity
        shift.shiftX = 0.25  // 8 pixels right
        let out = shift.apply(to: ramp()), image = ramp()
        for y in 0..<32 {
            for x in 0..<7 { XCTAssertEqual(out[x, y, 0], 0, "black where nothing was: \(x), \(y)") }
            for x in 8..<32 { XCTAssertEqual(out[x, y, 1], image[x - 8, y, 1], accuracy: 1e-3) }
        }
    }

    func testContrastTurnsAboutTheMeanAndBrightnessAdds() {
        var change = FineTuneAugmentation.identity
        change.contrast = 1.2
        change.brightness = 0.05
        let image = ramp(), out = change.apply(to: image)
        let mean = image.pixels.reduce(0, +) / Float(image.pixels.count)
        for (a, b) in zip(out.pixels, image.pixels) { XCTAssertEqual(a, (b - mean) * 1.2 + mean + 0.05 * 255, accuracy: 1e-2) }
    }

    func testDrawsStayInTheRecipesRanges() {
        var g = SeededGenerator(seed: 1, stream: "augment-test")
        for _ in 0..<200 {
            let d = FineTuneAugmentation(generator: &g)
            XCTAssertTrue(abs(d.rotation) <= 10 && abs(d.shiftX) <= 0.08 && abs(d.shiftY) <= 0.08)
            XCTAssertTrue((0.9...1.1).contains(d.zoom) && abs(d.brightness) <= 0.1 && (0.8...1.2).contains(d.contrast))
        }
    }
}
