import Foundation
import LightboxCore
import LightboxTestSupport
import XCTest
import LightboxImaging
@testable import LightboxModels

/// Lightbox's embeddings against torch's, computed by scripts/reference/mobilenet_v2_reference.py
/// with the same checkpoint and preprocessing on real chest X-rays (and a photograph).
/// Tolerances: max absolute difference < 1e-3 and cosine similarity > 0.9999 per image.
final class ReferenceEmbeddingTests: XCTestCase {
    struct Reference: Decodable {
        struct Image: Decodable {
            var path: String
            var resize: String
            var embedding: [Float]
            var top5: [[Double]]
        }
        var images: [Image]
    }

    static func references() throws -> [Reference.Image] {
        let data = try Data(contentsOf: TestPaths.fixtures.appendingPathComponent("reference_embeddings.json"))
        return try JSONDecoder().decode(Reference.self, from: data).images
    }

    func testEmbeddingsMatchTorch() throws {
        let network = try TestPaths.pretrained()
        var compared = 0
        for reference in try Self.references() {
            guard let path = TestPaths.resolve(reference.path) else {
                XCTFail("reference image \(reference.path) not found (run scripts/test.sh, which fetches it)")
                continue
            }
            let policy = try XCTUnwrap(ResizePolicy(rawValue: reference.resize))
            let embedder = ImageEmbedder(network: network, preprocessor: Preprocessor(policy: policy), decoder: ImageDecoder(maxPixels: LightboxSettings.defaultMaxPixels, dicomWindow: .first), threads: TestSettings.local.threads)
            let result = try embedder.embed(paths: [path])
            XCTAssertEqual(result.failures.count, 0)
            let got = result.embeddings, want = reference.embedding
            XCTAssertEqual(got.count, 1280)
            let maxDiff = zip(got, want).map { abs($0 - $1) }.max()!
            let dot = zip(got, want).map { $0 * $1 }.reduce(0, +)
            let cosine = dot / (sqrt(got.map { $0 * $0 }.reduce(0, +)) * sqrt(want.map { $0 * $0 }.reduce(0, +)))
            XCTAssertLessThan(maxDiff, 1e-3, "\(reference.path): max |difference| \(maxDiff)")
            XCTAssertGreaterThan(cosine, 0.9999, "\(reference.path): cosine \(cosine)")
            compared += 1
        }
        XCTAssertGreaterThanOrEqual(compared, 6, "at least six real X-rays must be compared")
    }

    func testEaglePhotographIsABaldEagle() throws {
        let path = try XCTUnwrap(TestPaths.darknetPhoto("eagle.jpg"), "eagle.jpg missing: run scripts/test.sh")
        let embedder = ImageEmbedder(network: try TestPaths.pretrained(), preprocessor: Preprocessor(), decoder: ImageDecoder(maxPixels: LightboxSettings.defaultMaxPixels, dicomWindow: .first), threads: TestSettings.local.threads)
        let (tensor, kept, failures) = try embedder.prepare([path])
        XCTAssertEqual(failures.count, 0)
        let result = try tensor.withUnsafeBufferPointer {
            try embedder.network.forward($0.baseAddress!, batch: kept.count, outputs: .imageNetLogits)
        }
        let logits = try XCTUnwrap(result.logits)
        let top = logits.indices.max { logits[$0] < logits[$1] }!
        XCTAssertEqual(top, 22, "ImageNet class 22 is 'bald eagle'")
        // The whole top five, and its scores, agree with torch.
        let reference = try XCTUnwrap(Self.references().first { $0.path.hasSuffix("eagle.jpg") })
        let ranked = logits.indices.sorted { logits[$0] > logits[$1] }.prefix(5)
        XCTAssertEqual(Array(ranked), reference.top5.map { Int($0[0]) })
        for pair in reference.top5 { XCTAssertEqual(Double(logits[Int(pair[0])]), pair[1], accuracy: 1e-3) }
    }

    func testBatchedPassesEqualSingleImagePasses() throws {
        // Batches run on several cores at once; each image must come out as if run alone.
        let network = try TestPaths.pretrained()
        let images = TestPaths.shared.appendingPathComponent("data/covid-chestxray/images")
        let files = try FileManager.default.contentsOfDirectory(atPath: images.path).sorted().prefix(7)
            .map { images.appendingPathComponent($0).path }
        let embedder = ImageEmbedder(network: network, preprocessor: Preprocessor(), decoder: ImageDecoder(maxPixels: LightboxSettings.defaultMaxPixels, dicomWindow: .first), threads: TestSettings.local.threads)
        let (tensor, kept, _) = try embedder.prepare(files)
        XCTAssertEqual(kept.count, 7)
        let batched = try tensor.withUnsafeBufferPointer {
            try network.forward($0.baseAddress!, batch: kept.count, outputs: .featureMap)
        }
        XCTAssertEqual(batched.featureMapShape, [7, 7, 7, 1280])
        let per = embedder.preprocessor.valuesPerImage
        for i in 0..<kept.count {
            let single = try tensor.withUnsafeBufferPointer {
                try network.forward($0.baseAddress! + i * per, batch: 1, outputs: .featureMap)
            }
            let a = batched.embeddings[(i * 1280)..<((i + 1) * 1280)]
            XCTAssertLessThan(zip(a, single.embeddings).map { abs($0 - $1) }.max()!, 1e-5, "image \(i)")
            let fm = batched.featureMap![(i * 49 * 1280)..<((i + 1) * 49 * 1280)]
            XCTAssertLessThan(zip(fm, single.featureMap!).map { abs($0 - $1) }.max()!, 1e-4, "feature map \(i)")
            // The embedding is the feature map's average over its 49 positions.
            let map = try XCTUnwrap(single.featureMap)
            let column: [Float] = stride(from: 0, to: 49 * 1280, by: 1280).map { map[$0] }
            let channel0 = column.reduce(0, +) / 49
            XCTAssertEqual(channel0, single.embeddings[0], accuracy: 1e-4)
        }
    }
}
