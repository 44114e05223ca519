import Foundation
import LightboxCore
import LightboxImaging
import LightboxKernels
import LightboxTestSupport
import XCTest
@testable import LightboxModels

/// MobileNetV2 in bf16 (this CPU's bf16: its AVX-512 BF16 kernels, else their emulation) on 16
/// real chest X-rays of the developer data: each embedding within cosine 0.999 of fp32's, and
/// not equal to it (the rounding happened); a bf16 backbone's cache key is not fp32's.
final class BF16EmbeddingTests: XCTestCase {
    func testBF16EmbeddingsAreWithinCosine0999OfFP32() throws {
        let weights = try PretrainedMobileNetV2.load(from: TestSettings.weightsFolder)
        let images = TestPaths.shared.appendingPathComponent("data/covid-chestxray/images")
        let files = try FileManager.default.contentsOfDirectory(atPath: images.path).sorted().prefix(16)
            .map { images.appendingPathComponent($0).path }
        let decoder = ImageDecoder(maxPixels: LightboxSettings.defaultMaxPixels, dicomWindow: .first)
        let bf16 = PrecisionChoice.choose(requested: .bf16).arithmetic
        var embeddings: [Arithmetic: [Float]] = [:]
        for arithmetic in [Arithmetic.fp32, bf16] {
            let network = try MobileNetV2(weights: weights, parallelism: TestSettings.local.threads, arithmetic: arithmetic)
            XCTAssertEqual(network.arithmetic, arithmetic)
            let embedder = ImageEmbedder(network: network, preprocessor: Preprocessor(), decoder: decoder, threads: TestSettings.local.threads)
            let result = try embedder.embed(paths: files, batchSize: 8)
            XCTAssertEqual(result.paths.count, 16)
            embeddings[arithmetic] = result.embeddings
        }
        let a = embeddings[.fp32]!, b = embeddings[bf16]!
        var worst = 1.0
        for i in 0..<16 {
            let x = a[(i * 1280)..<((i + 1) * 1280)].map(Double.init), y = b[(i * 1280)..<((i + 1) * 1280)].map(Double.init)
            let dot = zip(x, y).map(*).reduce(0, +)
            let cosine = dot / (x.map { $0 * $0 }.reduce(0, +).squareRoot() * y.map { $0 * $0 }.reduce(0, +).squareRoot())
            worst = min(worst, cosine)
            XCTAssertGreaterThan(cosine, 0.999, "\(files[i]) (\(bf16))")
            XCTAssertNotEqual(Array(x), Array(y), "\(files[i]): bf16 changed nothing")
        }
        print("bf16 (\(bf16)) against fp32 on 16 X-rays: lowest cosine \(worst)")
    }

    func testCacheKeysKeepThePrecisionsApart() throws {
        let decoder = ImageDecoder(maxPixels: LightboxSettings.defaultMaxPixels, dicomWindow: .first)
        func key(_ arithmetic: Arithmetic) throws -> String {
            try Backbone.pretrained(Preprocessor(), weightsFolder: TestSettings.weightsFolder, decoder: decoder, parallelism: 1,
                                    arithmetic: arithmetic).cacheKey
        }
        let fp32 = try key(.fp32)
        XCTAssertFalse(fp32.contains("bf16"), "fp32 keys are those made before precision existed: \(fp32)")
        XCTAssertEqual(try key(.bf16Emulated), fp32 + "+bf16")
    }
}
