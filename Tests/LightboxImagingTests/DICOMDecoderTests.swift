import Foundation
import LightboxCore
import LightboxTestSupport
import XCTest
@testable import LightboxImaging

/// DICOM files decode to pydicom's pixels after the same LUT steps (the fixtures and references of
/// scripts/reference/make_dicom_fixtures.py, made by scripts/test.sh in the test-data cache), bad
/// files fail with one line naming them, and the size limit is applied from the header.
final class DICOMDecoderTests: XCTestCase {
    static let folder = URL(fileURLWithPath: TestSettings.local.folder("test-data/dicom-fixtures"))

    struct Facts: Decodable {
        struct Tolerance: Decodable { var max: Float, mean: Float }
        var file: String, transferSyntax: String
        var rows: Int, columns: Int, frames: Int, samplesPerPixel: Int
        var photometric: String, bitsAllocated: Int, bitsStored: Int, highBit: Int, pixelRepresentation: Int
        var rescaleSlope: Double, rescaleIntercept: Double
        var windowCenter: Double?, windowWidth: Double?
        var hasVOILUTSequence: Bool
        var patientID: String, sopInstanceUID: String, studyInstanceUID: String
        var tolerance: Tolerance
        var minmaxReference: Bool
        var warning: String?
    }

    struct Bad: Decodable { var file: String, error: String }
    struct Manifest: Decodable { var fixtures: [String], bad: [String] }

    /// The fixtures' manifest; without it the test is skipped, and under CI (where scripts/test.sh
    /// has made the fixtures) it fails.
    func manifest() throws -> Manifest {
        let url = Self.folder.appendingPathComponent("manifest.json")
        guard let data = FileManager.default.contents(atPath: url.path) else {
            let message = "no DICOM fixtures at \(Self.folder.path): scripts/test.sh makes them"
            if ProcessInfo.processInfo.environment["CI"] != nil { XCTFail(message) }
            throw XCTSkip(message)
        }
        return try JSONDecoder().decode(Manifest.self, from: data)
    }

    func facts(_ name: String) throws -> Facts {
        try JSONDecoder().decode(Facts.self, from: Data(contentsOf: Self.folder.appendingPathComponent("\(name).json")))
    }

    func bytes(_ name: String) throws -> [UInt8] {
        [UInt8](try Data(contentsOf: Self.folder.appendingPathComponent(name)))
    }

    /// A float32 .npy file (C order): its shape and values.
    func npy(_ name: String) throws -> (shape: [Int], values: [Float]) {
        let data = try bytes(name)
        XCTAssertEqual(Array(data[1..<6]), Array("NUMPY".utf8), name)
        let major = data[6]
        let headerLength = major == 1 ? Int(data[8]) | Int(data[9]) << 8
                                      : Int(data[8]) | Int(data[9]) << 8 | Int(data[10]) << 16 | Int(data[11]) << 24
        let start = major == 1 ? 10 : 12
        let header = String(decoding: data[start..<(start + headerLength)], as: UTF8.self)
        XCTAssertTrue(header.contains("'<f4'") && header.contains("'fortran_order': False"), "\(name): \(header)")
        let shapeText = header.components(separatedBy: "'shape': (")[1].components(separatedBy: ")")[0]
        let shape = shapeText.split(separator: ",").compactMap { Int($0.trimmingCharacters(in: .whitespaces)) }
        let count = shape.reduce(1, *)
        let values = data[(start + headerLength)...].withUnsafeBytes { raw in
            (0..<count).map { Float(bitPattern: UInt32(littleEndian: raw.loadUnaligned(fromByteOffset: $0 * 4, as: UInt32.self))) }
        }
        return (shape, values)
    }

    /// Largest and mean absolute difference between a decoded picture and a reference (grey
    /// references hold one value a pixel, Lightbox repeats it into R, G and B).
    func difference(_ image: RGBImage, _ reference: (shape: [Int], values: [Float]), _ name: String) -> (max: Float, mean: Float) {
        XCTAssertEqual(Array(reference.shape.prefix(2)), [image.height, image.width], name)
        let grey = reference.shape.count == 2
        var worst: Float = 0, total: Double = 0
        for i in 0..<(image.width * image.height) {
            for c in 0..<3 {
                let want = reference.values[grey ? i : i * 3 + c]
                let d = abs(image.pixels[i * 3 + c] - want)
                worst = max(worst, d)
                total += Double(d)
            }
        }
        return (worst, Float(total / Double(image.pixels.count)))
    }

    func testEveryFixtureMatchesPydicom() throws {
        let names = try manifest().fixtures
        XCTAssertGreaterThanOrEqual(names.count, 26)
        for name in names {
            let f = try facts(name)
            let warnings = Warnings()
            let decoder = ImageDecoder(maxPixels: LightboxSettings.defaultMaxPixels, dicomWindow: .first, onWarning: { warnings.append($0) })
            let path = Self.folder.appendingPathComponent(f.file).path
            let image: RGBImage
            do { image = try decoder.decode(file: path) } catch { XCTFail("\(name): \(error)"); continue }
            let d = difference(image, try npy("\(name).npy"), name)
            XCTAssertLessThanOrEqual(d.max, f.tolerance.max, "\(name) (\(f.transferSyntax)): max difference \(d.max)")
            XCTAssertLessThanOrEqual(d.mean, f.tolerance.mean, "\(name) (\(f.transferSyntax)): mean difference \(d.mean)")
            if let expected = f.warning {
                XCTAssertEqual(warnings.all.count, 1, name)
                XCTAssertTrue(warnings.all.first?.contains(expected) == true && warnings.all.first?.contains(path) == true,
                              "\(name): \(warnings.all)")
            } else {
                XCTAssertEqual(warnings.all, [], name)
            }
        }
    }

    func testMinMaxChoiceIgnoresTheFilesWindow() throws {
        let names = try manifest().fixtures.filter { try facts($0).minmaxReference }
        XCTAssertGreaterThanOrEqual(names.count, 3)
        for name in names {
            let image = try ImageDecoder(maxPixels: LightboxSettings.defaultMaxPixels, dicomWindow: .minmax).decode(file: Self.folder.appendingPathComponent("\(name).dcm").path)
            let d = difference(image, try npy("\(name).minmax.npy"), name)
            XCTAssertLessThanOrEqual(d.max, 1e-3, "\(name): max difference \(d.max)")
            // And it is a different picture from the windowed one.
            let windowed = difference(image, try npy("\(name).npy"), name)
            XCTAssertGreaterThan(windowed.mean, 1, name)
        }
    }

    /// Twelve-bit values keep their precision: a window 3600 wide over 4096 values is not whole numbers.
    func testNoRoundingToEightBits() throws {
        _ = try manifest()
        let image = try ImageDecoder(maxPixels: LightboxSettings.defaultMaxPixels, dicomWindow: .first).decode(file: Self.folder.appendingPathComponent("mono2_12bit_window.dcm").path)
        XCTAssertGreaterThan(Set(image.pixels).count, 1000)
        XCTAssertTrue(image.pixels.contains { $0 != $0.rounded() })
    }

    func testHeaderFactsMatchPydicom() throws {
        for name in try manifest().fixtures {
            let f = try facts(name)
            let h = try DICOMDecoder.header(try bytes(f.file), path: name)
            func s<T>(_ value: T) -> String { DICOMDecoder.string(value) }
            XCTAssertEqual([Int(h.rows), Int(h.columns), Int(h.frames), Int(h.samples_per_pixel)],
                           [f.rows, f.columns, f.frames, f.samplesPerPixel], name)
            XCTAssertEqual([Int(h.bits_allocated), Int(h.bits_stored), Int(h.high_bit), Int(h.pixel_representation)],
                           [f.bitsAllocated, f.bitsStored, f.highBit, f.pixelRepresentation], name)
            XCTAssertEqual(s(h.photometric), f.photometric, name)
            XCTAssertEqual(s(h.transfer_syntax), f.transferSyntax, name)
            XCTAssertEqual(h.transfer_syntax_supported, 1, name)
            XCTAssertEqual([h.rescale_slope, h.rescale_intercept], [f.rescaleSlope, f.rescaleIntercept], name)
            XCTAssertEqual(h.has_window != 0 ? h.window_center : nil, f.windowCenter, name)
            XCTAssertEqual(h.has_window != 0 ? h.window_width : nil, f.windowWidth, name)
            XCTAssertEqual(h.has_voi_lut != 0, f.hasVOILUTSequence, name)
            XCTAssertEqual([s(h.patient_id), s(h.sop_instance_uid), s(h.study_instance_uid)],
                           [f.patientID, f.sopInstanceUID, f.studyInstanceUID], name)
        }
    }

    func testProbeAgreesWithDecode() throws {
        for name in try manifest().fixtures {
            let data = try bytes("\(name).dcm")
            let header = try ImageDecoder(maxPixels: LightboxSettings.defaultMaxPixels, dicomWindow: .first).probe(data: data, path: name)
            let image = try ImageDecoder(maxPixels: LightboxSettings.defaultMaxPixels, dicomWindow: .first).decode(data: data, path: name)
            XCTAssertEqual(header.format, .dicom, name)
            XCTAssertEqual([header.width, header.height], [image.width, image.height], name)
            XCTAssertGreaterThanOrEqual(header.decodeBytes, image.width * image.height * 12 + data.count, name)
            XCTAssertEqual(header.warnings.isEmpty, try facts(name).warning == nil, name)
        }
    }

    func testBadFilesFailWithOneLineNamingTheFile() throws {
        let names = try manifest().bad
        XCTAssertGreaterThanOrEqual(names.count, 9)
        for name in names {
            let bad = try JSONDecoder().decode(Bad.self, from: Data(contentsOf: Self.folder.appendingPathComponent("bad/\(name).json")))
            let path = Self.folder.appendingPathComponent("bad/\(bad.file)").path
            XCTAssertThrowsError(try ImageDecoder(maxPixels: LightboxSettings.defaultMaxPixels, dicomWindow: .first).decode(file: path), name) { error in
                let text = "\(error)"
                XCTAssertTrue(error is ImageDecodingError, "\(name): \(type(of: error))")
                XCTAssertTrue(text.hasPrefix(path + ": "), "\(name): \(text)")
                XCTAssertFalse(text.contains("\n"), "\(name): \(text)")
                XCTAssertTrue(bad.error.isEmpty || text.lowercased().contains(bad.error.lowercased()), "\(name): '\(text)' lacks '\(bad.error)'")
            }
        }
    }

    func testUnsupportedSyntaxIsNamed() throws {
        _ = try manifest()
        let path = Self.folder.appendingPathComponent("bad/unsupported_mpeg2.dcm").path
        XCTAssertThrowsError(try ImageDecoder(maxPixels: LightboxSettings.defaultMaxPixels, dicomWindow: .first).probe(data: try bytes("bad/unsupported_mpeg2.dcm"), path: path)) {
            XCTAssertEqual("\($0)", "\(path): unsupported transfer syntax 1.2.840.10008.1.2.4.100 (MPEG2 Main Profile @ Main Level)")
            XCTAssertEqual(($0 as? ImageDecodingError)?.reason,
                           .unsupported("unsupported transfer syntax 1.2.840.10008.1.2.4.100 (MPEG2 Main Profile @ Main Level)"))
        }
    }

    /// The limit is checked from the header: 65535 x 65535 (17 GB of Float RGB) is refused by probe
    /// and decode without allocating, and an ordinary file is refused under a small limit.
    func testSizeLimitRefusedFromTheHeader() throws {
        _ = try manifest()
        let huge = try bytes("bad/huge_dimensions.dcm")
        for attempt in [{ _ = try ImageDecoder(maxPixels: LightboxSettings.defaultMaxPixels, dicomWindow: .first).probe(data: huge, path: "huge.dcm") },
                        { _ = try ImageDecoder(maxPixels: LightboxSettings.defaultMaxPixels, dicomWindow: .first).decode(data: huge, path: "huge.dcm") }] {
            XCTAssertThrowsError(try attempt()) {
                XCTAssertEqual(($0 as? ImageDecodingError)?.reason,
                               .tooLarge(width: 65535, height: 65535, limit: TestSettings.local.maxPixels))
            }
        }
        let small = ImageDecoder(maxPixels: 1024 * 816, dicomWindow: .first)
        let data = try bytes("mono2_12bit_window.dcm")
        XCTAssertThrowsError(try small.probe(data: data, path: "a.dcm")) {
            XCTAssertEqual(($0 as? ImageDecodingError)?.reason, .tooLarge(width: 1024, height: 817, limit: 1024 * 816))
        }
        XCTAssertThrowsError(try small.decode(data: data, path: "a.dcm"))
        XCTAssertNoThrow(try ImageDecoder(maxPixels: 1024 * 817, dicomWindow: .first).decode(data: data, path: "a.dcm"))
    }

    /// A file cut anywhere (header, element lengths, fragments, codestreams) is an error, not a crash.
    func testCutFilesFailCleanly() throws {
        _ = try manifest()
        for name in ["mono2_12bit_window", "jpeg_lossless_sv1", "jpegls_lossless", "j2k_lossless", "rle_rgb", "deflated_le"] {
            let data = try bytes("\(name).dcm")
            var cuts = Array(stride(from: 132, to: 1200, by: 37))
            cuts += (1..<12).map { data.count * $0 / 12 }
            for cut in cuts {
                XCTAssertThrowsError(try ImageDecoder(maxPixels: LightboxSettings.defaultMaxPixels, dicomWindow: .first).decode(data: Array(data[..<cut]), path: "cut.dcm"), "\(name) cut at \(cut)") {
                    XCTAssertTrue("\($0)".hasPrefix("cut.dcm: ") && !"\($0)".contains("\n"), "\($0)")
                }
            }
        }
    }

    /// Lightbox decodes several files at once: DCMTK (its dictionary, its codec list) and OpenJPEG
    /// give the same pixels on parallel threads as on one.
    func testParallelDecodingGivesTheSamePixels() throws {
        let names = ["jpeg_lossless_sv1", "jpegls_lossless", "j2k_lossy", "rle_rgb", "deflated_le", "jpeg_baseline_ybr"]
        _ = try manifest()
        let data = try names.map { try bytes("\($0).dcm") }
        let serial = try data.map { try ImageDecoder(maxPixels: LightboxSettings.defaultMaxPixels, dicomWindow: .first).decode(data: $0, path: "a.dcm") }
        let results = Results(count: names.count * 4)
        DispatchQueue.concurrentPerform(iterations: names.count * 4) { i in
            results.set(i, try? ImageDecoder(maxPixels: LightboxSettings.defaultMaxPixels, dicomWindow: .first).decode(data: data[i % names.count], path: "a.dcm"))
        }
        for i in 0..<(names.count * 4) { XCTAssertEqual(results.get(i), serial[i % names.count], names[i % names.count]) }
    }

    func testSniffing() throws {
        _ = try manifest()
        let data = try bytes("mono2_8bit.dcm")
        XCTAssertEqual(ImageFormat(sniffing: data), .dicom)
        // Without the preamble and "DICM" (data sets written bare) the file is not recognised.
        XCTAssertNil(ImageFormat(sniffing: Array(data[132...])))
        XCTAssertNil(ImageFormat(sniffing: Array(data[..<131])))
    }
}

/// Warnings collected from the decoder's callback.
private final class Warnings: @unchecked Sendable {
    private let lock = NSLock()
    private var items: [String] = []
    func append(_ s: String) { lock.lock(); items.append(s); lock.unlock() }
    var all: [String] { lock.lock(); defer { lock.unlock() }; return items }
}

/// Pictures decoded on parallel threads, by index.
private final class Results: @unchecked Sendable {
    private let lock = NSLock()
    private var items: [RGBImage?]
    init(count: Int) { items = Array(repeating: nil, count: count) }
    func set(_ i: Int, _ image: RGBImage?) { lock.lock(); items[i] = image; lock.unlock() }
    func get(_ i: Int) -> RGBImage? { lock.lock(); defer { lock.unlock() }; return items[i] }
}
