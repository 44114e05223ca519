import Foundation
import LightboxCore
import LightboxEmbedding
import LightboxImaging
import LightboxModels
import LightboxTestSupport
import XCTest

/// Cache and shard keys of pictures cropped to their lungs differ from the whole pictures' (and
/// with the locator and the margin); the whole pictures' keys are what they were before the crop.
final class LungCropKeyTests: XCTestCase {
    func testCroppedKeysDifferAndWholePictureKeysStayAsTheyWere() throws {
        let p = Preprocessor()
        let before = SHA256.hex(Data("v1|b|abc|\(p.identity)|original".utf8))
        XCTAssertEqual(EmbeddingCache.key(contentDigest: "abc", preprocessor: p, augmentation: nil, backbone: "b"), before,
                       "the key of a whole picture is today's")
        XCTAssertEqual(EmbeddingCache.key(contentDigest: "abc", preprocessor: p, augmentation: nil, backbone: "b", crop: nil), before)

        let settings = TestSettings.local
        let embedder = try ImageEmbedder.pretrained(policy: .crop, settings: settings, dicomWindow: .first)
        let crop = try LungCrop.load(locatorFile: nil, source: "shipped", settings: settings, dicomWindow: .first)
        XCTAssertEqual(crop.locatorSHA256, LungLocator.shippedSHA256)
        XCTAssertNil(crop.locatorFile, "the shipped locator's bytes do not travel")
        let whole = SampleEmbedder(embedder: embedder, cache: nil, backbone: "b")
        let lungs = SampleEmbedder(embedder: embedder.cropping(crop), cache: nil, backbone: "b")
        XCTAssertEqual(whole.key(contentDigest: "abc"), before)
        let cropped = lungs.key(contentDigest: "abc")
        XCTAssertNotEqual(cropped, before)
        XCTAssertEqual(cropped, EmbeddingCache.key(contentDigest: "abc", preprocessor: p, augmentation: nil, backbone: "b",
                                                   crop: "crop=lungs@0.05@\(LungLocator.shippedSHA256)"))
        // Another locator or margin is another key.
        let other = LungCrop(finder: crop.finder, margin: 0.1, locatorSHA256: crop.locatorSHA256, locatorFile: nil)
        let otherLocator = LungCrop(finder: crop.finder, margin: 0.05, locatorSHA256: String(repeating: "0", count: 64), locatorFile: nil)
        let keys = Set([cropped, SampleEmbedder(embedder: embedder.cropping(other), cache: nil, backbone: "b").key(contentDigest: "abc"),
                        SampleEmbedder(embedder: embedder.cropping(otherLocator), cache: nil, backbone: "b").key(contentDigest: "abc")])
        XCTAssertEqual(keys.count, 3)
        // Blanking (the audit) keeps the crop.
        XCTAssertTrue(embedder.cropping(crop).blanking(.centerBlanked).crop === crop)

        // A shard job's identity too.
        let paths = ["/a.png", "/b.png"]
        let job = ShardedEmbedding.jobIdentity(paths: paths, backbone: "b", preprocessor: p)
        XCTAssertEqual(job, SHA256.hex(Data("lightbox-embed/1\nb\n\(p.identity)\n2\n/a.png\n/b.png".utf8)))
        XCTAssertNotEqual(ShardedEmbedding.jobIdentity(paths: paths, backbone: "b", preprocessor: p, crop: crop.identity), job)
    }

    /// The crop helper keeps exactly the region's pixels.
    func testCroppedImageKeepsTheRegion() {
        let image = RGBImage(width: 4, height: 3, pixels: (0..<36).map(Float.init))
        let cut = image.cropped(to: Resampler.Region(x: 1, y: 1, width: 2, height: 2))
        XCTAssertEqual(cut.width, 2)
        XCTAssertEqual(cut.height, 2)
        XCTAssertEqual(cut.pixels, [15, 16, 17, 18, 19, 20, 27, 28, 29, 30, 31, 32])
        XCTAssertEqual(image.cropped(to: Resampler.Region(x: 0, y: 0, width: 4, height: 3)), image)
        // A box of the whole picture, as fractions of a part of it.
        let part = LungBox(x0: 0.2, y0: 0.1, x1: 0.7, y1: 0.9)
        let inside = LungBox(x0: 0.3, y0: 0.2, x1: 0.6, y1: 0.5).within(part)
        XCTAssertEqual(inside.x0, 0.2, accuracy: 1e-12)
        XCTAssertEqual(inside.y0, 0.125, accuracy: 1e-12)
        XCTAssertEqual(inside.x1, 0.8, accuracy: 1e-12)
        XCTAssertEqual(inside.y1, 0.5, accuracy: 1e-12)
    }
}
