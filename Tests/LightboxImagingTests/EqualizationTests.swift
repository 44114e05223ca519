import Foundation
import LightboxCore
import LightboxTestSupport
import XCTest
@testable import LightboxImaging

/// Contrast equalisation against OpenCV: scripts/reference/equalize_reference.py runs
/// cv2.equalizeHist and cv2.createCLAHE(clipLimit=2.0, tileGridSize=(8, 8)) on a fixed set of
/// grey images (seeded noise, gradients, a constant image, 1x1, 7x5, 1x300 and other sizes not
/// divisible by the tile grid, and a real X-ray at several sizes); Lightbox must give exactly
/// the same bytes, every pixel of every image, for both methods.
final class EqualizationTests: TemporaryFolderTestCase {

    struct ReferenceFailure: Error, CustomStringConvertible {
        let message: String
        var description: String { "scripts/reference/equalize_reference.py failed: \(message)" }
    }

    struct ReferenceImage {
        let name: String, width: Int, height: Int
    }

    /// Runs the reference script into `work/reference`; its images as index.json lists them.
    func reference() throws -> (folder: URL, images: [ReferenceImage]) {
        let python = try TorchReference.requirePython()
        let out = work.appendingPathComponent("reference")
        var arguments = [TorchReference.script("equalize_reference.py"), out.path]
        // The real X-ray when the developer data set is there; the generated images always.
        let haveXray = FileManager.default.fileExists(atPath: TorchReference.xray.path)
        if haveXray { arguments += ["--xray", TorchReference.xray.path] }
        let (status, message) = try ReferenceScript.run(python, arguments)
        // The venv exists: a failing reference (opencv missing included) is a failure, never a skip.
        guard status == 0 else { throw ReferenceFailure(message: message) }

        let index = try XCTUnwrap(JSONSerialization.jsonObject(with: Data(contentsOf: out.appendingPathComponent("index.json"))) as? [String: Any])
        let entries = try XCTUnwrap(index["images"] as? [[String: Any]])
        let images = try entries.map { entry in
            ReferenceImage(name: try XCTUnwrap(entry["name"] as? String), width: try XCTUnwrap(entry["width"] as? Int),
                           height: try XCTUnwrap(entry["height"] as? Int))
        }
        // The cases that matter most are there (a script that wrote nothing would pass vacuously).
        let names = Set(images.map(\.name))
        for required in ["noise_64x48", "constant_50x40", "tiny_1x1", "tiny_7x5", "thin_1x300", "blocks_64x50", "ramp_97x61"] {
            XCTAssertTrue(names.contains(required), "the reference wrote no \(required)")
        }
        if haveXray {
            XCTAssertTrue(names.isSuperset(of: ["xray_224x224", "xray_225x199"]), "the reference wrote no resized X-rays")
        }
        return (out, images)
    }

    func bytes(_ folder: URL, _ name: String) throws -> [UInt8] {
        [UInt8](try Data(contentsOf: folder.appendingPathComponent(name)))
    }

    func testMatchesOpenCVExactly() throws {
        let (folder, images) = try reference()
        for image in images {
            let input = try bytes(folder, "\(image.name).input.u8")
            XCTAssertEqual(input.count, image.width * image.height, image.name)
            guard input.count == image.width * image.height else { continue }
            let ours: [(String, [UInt8])] = [
                ("histogram", Equalization.histogramEqualized(input)),
                ("clahe", Equalization.clahe(input, width: image.width, height: image.height)),
            ]
            for (method, result) in ours {
                let expected = try bytes(folder, "\(image.name).\(method).u8")
                XCTAssertEqual(result.count, expected.count, "\(image.name) \(method)")
                let differing = zip(result, expected).filter { $0 != $1 }.count
                let largest = zip(result, expected).map { abs(Int($0) - Int($1)) }.max() ?? 0
                XCTAssertEqual(differing, 0, "\(image.name) (\(image.width)x\(image.height)) \(method): \(differing) pixels differ from OpenCV, by up to \(largest)")
            }
        }
    }

    /// A grey RGB image through `apply` gives OpenCV's result in all three channels.
    func testApplyOnAGreyImageMatchesOpenCV() throws {
        let (folder, images) = try reference()
        for image in images where image.name == "normal_224x224" || image.name == "tiny_7x5" {
            let input = try bytes(folder, "\(image.name).input.u8")
            let rgb = RGBImage(width: image.width, height: image.height, pixels: input.flatMap { [Float($0), Float($0), Float($0)] })
            for method in [Equalization.clahe, .histogram] {
                let expected = try bytes(folder, "\(image.name).\(method.rawValue).u8").flatMap { [Float($0), Float($0), Float($0)] }
                XCTAssertEqual(method.apply(rgb).pixels, expected, "\(image.name) \(method)")
            }
        }
    }

    func testNoneIsIdentity() {
        let image = Self.colourImage(width: 13, height: 9)
        XCTAssertEqual(Equalization.none.apply(image), image)
    }

    func testColourImageComesOutGreyInAllThreeChannels() {
        let image = Self.colourImage(width: 37, height: 29)
        let gray = Equalization.grayLevels(of: image)
        for method in [Equalization.clahe, .histogram] {
            let out = method.apply(image)
            XCTAssertEqual(out.width, image.width)
            XCTAssertEqual(out.height, image.height)
            let expected = method == .clahe ? Equalization.clahe(gray, width: image.width, height: image.height)
                                            : Equalization.histogramEqualized(gray)
            for i in 0..<(image.width * image.height) {
                XCTAssertEqual(out.pixels[3 * i], Float(expected[i]), "\(method) pixel \(i)")
                XCTAssertEqual(out.pixels[3 * i + 1], out.pixels[3 * i], "\(method) pixel \(i)")
                XCTAssertEqual(out.pixels[3 * i + 2], out.pixels[3 * i], "\(method) pixel \(i)")
            }
        }
    }

    /// Grey pixels keep their value; colour takes cvtColor's luma; both round as saturate_cast.
    func testGrayLevels() {
        let pixels: [Float] = [100.5, 100.5, 100.5,  // grey, a tie: to even, 100
                               101.5, 101.5, 101.5,  // 102
                               255, 0, 0,            // 0.299 * 255 = 76.245: 76
                               0, 0, 255,            // 0.114 * 255 = 29.07: 29
                               300, 300, 300,        // clamped: 255
                               -4, -4, -4]           // clamped: 0
        XCTAssertEqual(Equalization.grayLevels(of: RGBImage(width: 6, height: 1, pixels: pixels)), [100, 102, 76, 29, 255, 0])
    }

    func testDegenerateSizesAndParametersDoNotCrash() {
        for (w, h) in [(1, 1), (1, 300), (300, 1), (7, 5), (2, 2), (8, 1)] {
            let gray = (0..<(w * h)).map { UInt8(truncatingIfNeeded: $0 &* 37) }
            XCTAssertEqual(Equalization.clahe(gray, width: w, height: h).count, w * h)
            XCTAssertEqual(Equalization.clahe(gray, width: w, height: h, clipLimit: 0, tiles: (3, 5)).count, w * h)
            XCTAssertEqual(Equalization.clahe(gray, width: w, height: h, clipLimit: .infinity).count, w * h)
            XCTAssertEqual(Equalization.histogramEqualized(gray).count, w * h)
            let rgb = RGBImage(width: w, height: h, pixels: gray.flatMap { [Float($0), Float($0) / 2, 255 - Float($0)] })
            for method in Equalization.allCases { XCTAssertEqual(method.apply(rgb).pixels.count, w * h * 3) }
        }
        // A single level: equalizeHist keeps it (OpenCV fills the image with it).
        XCTAssertEqual(Equalization.histogramEqualized([UInt8](repeating: 9, count: 12)), [UInt8](repeating: 9, count: 12))
        XCTAssertEqual(Equalization.histogramEqualized([]), [])
    }

    /// A deterministic colour image with fractional samples (as 16-bit sources give).
    static func colourImage(width: Int, height: Int) -> RGBImage {
        var pixels = [Float]()
        for y in 0..<height {
            for x in 0..<width {
                pixels += [Float((x * 37 + y * 11) % 256), Float((x * 5 + y * 53) % 256) + 0.25, Float((x * y) % 256) + 0.5]
            }
        }
        return RGBImage(width: width, height: height, pixels: pixels)
    }
}
