import Foundation
import LightboxCore
import XCTest
@testable import LightboxModels

final class WeightFormatTests: XCTestCase {
    struct Expected: Decodable { var shape: [Int]; var values: [Float] }

    func testLegacyTorchCheckpointReadsViewsAndSkipsIntegers() throws {
        let tensors = try TorchLegacyCheckpoint.load(path: TestPaths.fixtures.appendingPathComponent("tiny_legacy.pth").path)
        let data = try Data(contentsOf: TestPaths.fixtures.appendingPathComponent("tiny_legacy.json"))
        let expected = try JSONDecoder().decode([String: Expected].self, from: data)
        XCTAssertEqual(Set(tensors.keys), Set(expected.keys), "float tensors only (num_batches_tracked is int64)")
        for (name, want) in expected {
            XCTAssertEqual(tensors[name]?.shape, want.shape, name)
            XCTAssertEqual(tensors[name]?.values, want.values, name)
        }
    }

    func testTruncatedCheckpointIsAnErrorNamingTheFile() throws {
        let original = try Data(contentsOf: TestPaths.fixtures.appendingPathComponent("tiny_legacy.pth"))
        let path = FileManager.default.temporaryDirectory.appendingPathComponent("cut-\(UUID().uuidString).pth").path
        defer { try? FileManager.default.removeItem(atPath: path) }
        for length in [0, 10, original.count / 2, original.count - 4] {
            try original.prefix(length).write(to: URL(fileURLWithPath: path))
            XCTAssertThrowsError(try TorchLegacyCheckpoint.load(path: path)) { error in
                XCTAssertTrue("\(error)".hasPrefix(path), "\(error)")
            }
        }
    }

    func testSafeTensorsRoundTripAndTruncation() throws {
        let tensors = ["a": Tensor(shape: [2, 3], values: [1, 2, 3, 4, 5, -6.5]), "b.c": Tensor(shape: [1], values: [.pi])]
        let data = try SafeTensors.encode(tensors, metadata: ["k": "v"])
        let decoded = try SafeTensors.decode(data, source: "mem")
        XCTAssertEqual(decoded.tensors, tensors)
        XCTAssertEqual(decoded.metadata, ["k": "v"])
        XCTAssertThrowsError(try SafeTensors.decode(data.prefix(data.count - 1), source: "cut.safetensors")) { error in
            XCTAssertTrue("\(error)".contains("cut.safetensors"))
        }
        XCTAssertThrowsError(try SafeTensors.decode(Data([1, 2, 3]), source: "tiny"))
    }

    /// Found by the FuzzSafeTensors fuzzer: a header length of Int64.max made `8 + length`
    /// overflow and the reader allocate without bound. Kept as a regression input.
    func testFuzzerFoundHeaderLengthOverflow() {
        let crash = Data([0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0x7F, 0xD5])
        XCTAssertThrowsError(try SafeTensors.decode(crash, source: "crash")) { XCTAssertTrue("\($0)".contains("does not fit")) }
        // Shapes whose element count overflows are refused, not allocated.
        XCTAssertNil(ShapeMath.elementCount([1 << 40, 1 << 40]))
        XCTAssertNil(ShapeMath.elementCount([-1, 4]))
        XCTAssertEqual(ShapeMath.elementCount([2, 3, 4]), 24)
        let header = "{\"w\":{\"dtype\":\"F32\",\"shape\":[4611686018427387904,4],\"data_offsets\":[0,0]}}"
        var data = Data()
        var length = UInt64(header.utf8.count).littleEndian
        data.append(Data(bytes: &length, count: 8))
        data.append(Data(header.utf8))
        XCTAssertThrowsError(try SafeTensors.decode(data, source: "huge"))
    }

    func testNamedTensorsCheckShapesAndValues() {
        let store = NamedTensors(["w": Tensor(shape: [2], values: [1, .nan])], source: "x.safetensors")
        XCTAssertThrowsError(try store.tensor("w", shape: [3])) { XCTAssertTrue("\($0)".contains("expected [3]")) }
        XCTAssertThrowsError(try store.tensor("w", shape: [2])) { XCTAssertTrue("\($0)".contains("NaN")) }
        XCTAssertThrowsError(try store.tensor("q", shape: [2])) { XCTAssertTrue("\($0)".contains("missing tensor 'q'")) }
    }

    func testNPYRoundTrip() throws {
        let values: [Float] = (0..<12).map { Float($0) * 0.5 }
        let data = NPYFile.encode(values, shape: [3, 4])
        XCTAssertEqual((data.count - values.count * 4) % 64, 0, "header padded to 64 bytes")
        let decoded = try NPYFile.decode(data, source: "mem")
        XCTAssertEqual(decoded.shape, [3, 4])
        XCTAssertEqual(decoded.values, values)
    }

    func testMissingWeightsSayHowToFixIt() throws {
        try withTemporaryFolder { folder in
            XCTAssertFalse(PretrainedMobileNetV2.isInstalled(in: folder))
            XCTAssertThrowsError(try PretrainedMobileNetV2.load(from: folder)) { error in
                XCTAssertTrue("\(error)".contains("lightbox setup"), "\(error)")
                XCTAssertFalse("\(error)".contains("\n"), "one line")
            }
        }
    }

    func testCorruptWeightsAreDetected() throws {
        try withTemporaryFolder { folder in
            let tensors = ["x": Tensor(shape: [1], values: [1])]
            let encoded = try SafeTensors.encode(tensors)
            try FileManager.default.createDirectory(atPath: folder, withIntermediateDirectories: true)
            try AtomicFile.write(Data(SHA256.hex(encoded).utf8), to: PretrainedMobileNetV2.digestPath(in: folder))
            var damaged = encoded
            damaged[damaged.count - 1] ^= 0x40
            try AtomicFile.write(damaged, to: PretrainedMobileNetV2.path(in: folder))
            XCTAssertThrowsError(try PretrainedMobileNetV2.load(from: folder)) { error in
                XCTAssertTrue("\(error)".contains("corrupt"), "\(error)")
                XCTAssertTrue("\(error)".contains("lightbox setup"), "\(error)")
            }
        }
    }

    func testInstallRefusesAWrongCheckpoint() throws {
        try withTemporaryFolder { folder in
            let path = TestPaths.fixtures.appendingPathComponent("tiny_legacy.pth").path
            XCTAssertThrowsError(try PretrainedMobileNetV2.install(checkpoint: path, into: folder)) { error in
                XCTAssertTrue("\(error)".contains("does not match"), "\(error)")
            }
            XCTAssertFalse(PretrainedMobileNetV2.isInstalled(in: folder))
        }
    }

    func testSHA256KnownAnswer() {
        XCTAssertEqual(SHA256.hex(Data("abc".utf8)), "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad")
    }

    func testArchitectureTableMatchesThePaper() throws {
        let architecture = MobileNetV2Architecture.standard, modules = architecture.modules
        XCTAssertEqual(modules.map(\.index), Array(0...18))
        XCTAssertEqual(architecture.moduleNumbers, 0...18)
        XCTAssertEqual(modules.filter { $0.kind == .block }.count, 17)
        XCTAssertEqual(modules.filter(\.residual).count, 10)
        XCTAssertEqual(modules.last!.units[0].spec.outputChannels, 1280)
        XCTAssertEqual(modules.last!.units[0].weight, "features.18.0.weight")
        XCTAssertEqual(modules[14].units[0].weight, "features.14.conv.0.0.weight")
        XCTAssertEqual(architecture.featureMapSize, 7)
        // Fine-tuning's cut: unfreezing 5 trains features.14-18 on the 14x14 map of features.13.
        let cut = try architecture.cut(training: 5)
        XCTAssertEqual(cut.frozen, 0...13)
        XCTAssertEqual(cut.trained, 14...18)
        XCTAssertEqual(architecture.inputSide(ofModule: 14), 14)
        XCTAssertEqual(architecture.inputSide(ofModule: 15), 7)
        XCTAssertThrowsError(try architecture.cut(training: 19))
        XCTAssertThrowsError(try architecture.cut(training: 0))
        // Width 0.35 (Teachable Machine's): 16-channel stem, still a 1280-wide embedding.
        let narrow = MobileNetV2Architecture(widthMultiplier: 0.35)
        XCTAssertEqual(narrow.stemChannels, 16)
        XCTAssertEqual(narrow.embeddingChannels, 1280)
    }
}
