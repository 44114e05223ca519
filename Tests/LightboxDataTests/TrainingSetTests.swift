import Foundation
import XCTest
import LightboxCore
import LightboxImaging
@testable import LightboxData

final class TrainingSetTests: XCTestCase {
    func images(_ label: String, _ n: Int) -> [LabeledImage] {
        (0..<n).map { LabeledImage(path: "/\(label)/\($0).png", label: label, group: "\(label)\($0)") }
    }

    func testAugmentedCopiesComeOnlyFromTheTrainingSplit() throws {
        let all = images("A", 30) + images("B", 8)
        let split = Splitter.split(all, fractions: try SplitFractions(), seed: 3)
        let (samples, _) = TrainingSetBuilder.build(train: split.train, balance: .augmentTo(20), augmentCopies: 1,
                                                    ranges: AugmentationRanges(), seed: 3)
        let trainPaths = Set(split.train.map(\.path))
        XCTAssertTrue(samples.allSatisfy { trainPaths.contains($0.image.path) }, "no held-out image is augmented or trained on")
        let held = Set((split.validation + split.test).map(\.path))
        XCTAssertTrue(samples.allSatisfy { !held.contains($0.image.path) })
        XCTAssertEqual(samples.filter { $0.image.label == "A" }.count, 20)
        XCTAssertEqual(samples.filter { $0.image.label == "B" }.count, 20)
    }

    func testBalancePolicies() throws {
        let train = images("A", 10) + images("B", 3)
        let none = TrainingSetBuilder.build(train: train, balance: .none, augmentCopies: 0, ranges: .init(), seed: 1).samples
        XCTAssertEqual(none.count, 13)
        XCTAssertTrue(none.allSatisfy { $0.augmentation == nil })
        let over = TrainingSetBuilder.build(train: train, balance: .oversample, augmentCopies: 0, ranges: .init(), seed: 1).samples
        XCTAssertEqual(over.filter { $0.image.label == "B" }.count, 10)
        XCTAssertTrue(over.allSatisfy { $0.augmentation == nil }, "oversampling repeats, it does not augment")
        let (aug, notes) = TrainingSetBuilder.build(train: train, balance: .augmentTo(6), augmentCopies: 0, ranges: .init(), seed: 1)
        XCTAssertEqual(aug.filter { $0.image.label == "A" }.count, 6)
        XCTAssertEqual(aug.filter { $0.image.label == "B" }.count, 6)
        XCTAssertEqual(aug.filter { $0.augmentation != nil }.count, 3)
        XCTAssertEqual(Set(aug.compactMap(\.augmentation)).count, 3, "each copy is a different draw")
        XCTAssertEqual(notes.count, 2)
        XCTAssertEqual(try BalancePolicy(parsing: "augment-to:135"), .augmentTo(135))
        XCTAssertThrowsError(try BalancePolicy(parsing: "augment-to:x"))
    }

    func testAugmentationIsReproducible() {
        let a = TrainingSetBuilder.build(train: images("A", 4), balance: .none, augmentCopies: 2, ranges: .init(), seed: 9).samples
        let b = TrainingSetBuilder.build(train: images("A", 4), balance: .none, augmentCopies: 2, ranges: .init(), seed: 9).samples
        XCTAssertEqual(a, b)
        let c = TrainingSetBuilder.build(train: images("A", 4), balance: .none, augmentCopies: 2, ranges: .init(), seed: 10).samples
        XCTAssertNotEqual(a, c)

        // Applying a draw: the same draw gives the same picture; flips are off unless asked for.
        var g = SeededGenerator(seed: 1)
        let draw = AugmentationDraw(ranges: .init(), generator: &g)
        XCTAssertFalse(draw.flip)
        let picture = RGBImage(width: 16, height: 16, pixels: (0..<(16 * 16 * 3)).map { Float($0 % 256) })
        XCTAssertEqual(Augmenter.apply(draw, to: picture), Augmenter.apply(draw, to: picture))
        XCTAssertNotEqual(Augmenter.apply(draw, to: picture), picture)
        XCTAssertTrue(Augmenter.apply(draw, to: picture).pixels.allSatisfy { $0 >= 0 && $0 <= 255 })
    }

    func testIdentityAugmentationKeepsThePicture() {
        var ranges = AugmentationRanges()
        ranges.rotation = 0; ranges.shift = 0; ranges.zoom = 0; ranges.brightness = 0
        ranges.contrast = 0; ranges.gamma = 0; ranges.noise = 0
        var g = SeededGenerator(seed: 1)
        let draw = AugmentationDraw(ranges: ranges, generator: &g)
        let picture = RGBImage(width: 9, height: 7, pixels: (0..<(9 * 7 * 3)).map { Float($0 % 200) })
        let out = Augmenter.apply(draw, to: picture)
        for (a, b) in zip(out.pixels, picture.pixels) { XCTAssertEqual(a, b, accuracy: 1e-3) }
    }
}
