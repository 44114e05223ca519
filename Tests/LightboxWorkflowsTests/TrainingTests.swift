import Foundation
import XCTest
import LightboxKernels
import LightboxModels
@testable import LightboxInterop
@testable import LightboxHead

final class TrainingTests: XCTestCase {
    /// Two Gaussian clusters in 32 dimensions.
    func data(_ n: Int, seed: UInt64) -> LabeledEmbeddings {
        var g = SeededGeneratorForTests(seed)
        var features: [Float] = [], labels: [Int] = []
        for i in 0..<n {
            let label = i % 2
            labels.append(label)
            for k in 0..<32 { features.append(Float(g.normal()) + (k < 4 ? Float(label) * 2.5 : 0)) }
        }
        return LabeledEmbeddings(features: features, labels: labels, width: 32)
    }

    func options(seed: UInt64 = 1) -> TrainingOptions {
        var o = TrainingOptions()
        o.epochs = 15
        o.denseUnits = 16
        o.seed = seed
        return o
    }

    func testLearnsSeparableClasses() throws {
        var o = options()
        o.epochs = 40
        let result = try HeadTrainer.train(train: data(200, seed: 1), validation: data(60, seed: 2), classes: 2, options: o)
        XCTAssertEqual(result.history.count, 40)
        XCTAssertLessThan(result.history.last!.trainLoss, result.history.first!.trainLoss)
        XCTAssertGreaterThan(result.history.last!.valAccuracy!, 0.9)
    }

    /// Training uses one kernel thread, then puts back the calling thread's setting (which a
    /// server serving predictions may have chosen), not "all cores".
    func testTrainingLeavesTheKernelThreadCountAsItFoundIt() throws {
        let before = KernelThreads.forCurrentThread
        defer { KernelThreads.setForCurrentThread(before) }
        for chosen in [3, 2] {
            KernelThreads.setForCurrentThread(chosen)
            XCTAssertEqual(KernelThreads.forCurrentThread, chosen)
            _ = try HeadTrainer.train(train: data(40, seed: 1), validation: nil, classes: 2, options: options(seed: 5))
            XCTAssertEqual(KernelThreads.forCurrentThread, chosen)
        }
    }

    func testSameSeedSameWeightsOtherSeedOtherWeights() throws {
        let a = try HeadTrainer.train(train: data(100, seed: 1), validation: nil, classes: 2, options: options(seed: 5))
        let b = try HeadTrainer.train(train: data(100, seed: 1), validation: nil, classes: 2, options: options(seed: 5))
        XCTAssertEqual(a.head, b.head)
        XCTAssertEqual(a.history, b.history)
        let c = try HeadTrainer.train(train: data(100, seed: 1), validation: nil, classes: 2, options: options(seed: 6))
        XCTAssertNotEqual(a.head.w1, c.head.w1)
    }

    func testGradientsMatchFiniteDifferences() {
        let d = data(6, seed: 3)
        var head = DenseHead(inputs: 32, hidden: 5, classes: 2, seed: 11)
        head.b1 = head.b1.map { _ in 0.05 }
        let weights: [Float] = [1, 1, 2, 1, 1, 0.5]
        let g = head.gradients(d.features, labels: d.labels, weights: weights, dropoutMask: nil)
        func loss(_ h: DenseHead) -> Float { h.gradients(d.features, labels: d.labels, weights: weights, dropoutMask: nil).loss }
        let eps: Float = 1e-3
        for index in [0, 7, 33, 34, 40, 100, 140] {
            var plus = head, minus = head
            plus.w1[index] += eps
            minus.w1[index] -= eps
            XCTAssertEqual((loss(plus) - loss(minus)) / (2 * eps), g.w1[index], accuracy: 5e-3, "w1[\(index)]")
        }
        for index in [0, 3, 9] {
            var plus = head, minus = head
            plus.w2[index] += eps
            minus.w2[index] -= eps
            XCTAssertEqual((loss(plus) - loss(minus)) / (2 * eps), g.w2[index], accuracy: 2e-3, "w2[\(index)]")
        }
    }

    func testEarlyStoppingKeepsTheBestEpoch() throws {
        var o = options()
        o.epochs = 200
        o.earlyStoppingPatience = 3
        o.learningRate = 0.05
        let r = try HeadTrainer.train(train: data(40, seed: 1), validation: data(40, seed: 9), classes: 2, options: o)
        XCTAssertLessThan(r.history.count, 200)
        let best = r.history.min { $0.valLoss! < $1.valLoss! }!
        XCTAssertEqual(r.keptEpoch, best.epoch)
        XCTAssertEqual(r.history.count, best.epoch + 3)
    }

    func testBundleRoundTripAndVersionCheck() throws {
        let head = DenseHead(inputs: 8, hidden: 3, classes: 2, seed: 1)
        let bundle = try ModelBundle(classes: ["a", "b"], backbone: .init(id: "x", weightsSHA256: "00"),
                                     preprocessing: ModelBundle.Preprocessing(.init()), members: [DenseHeadMember(head)])
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("bundle-\(UUID().uuidString)").path
        defer { try? FileManager.default.removeItem(atPath: dir) }
        try bundle.write(to: dir)
        try bundle.write(to: dir)  // replacing an existing bundle
        let back = try ModelBundle.read(from: dir)
        XCTAssertEqual((back.members as? [DenseHeadMember])?.map(\.dense), [head])
        XCTAssertEqual(back.classes, ["a", "b"])
        let siblings = try FileManager.default.contentsOfDirectory(atPath: (dir as NSString).deletingLastPathComponent)
        XCTAssertFalse(siblings.contains { $0.contains(".tmp-") && $0.contains((dir as NSString).lastPathComponent) }, "no temporary left")

        let manifest = (dir as NSString).appendingPathComponent(ModelBundle.manifestName)
        let text = try String(contentsOfFile: manifest, encoding: .utf8)
        try text.replacingOccurrences(of: "\"format_version\" : 1", with: "\"format_version\" : 99")
            .write(toFile: manifest, atomically: true, encoding: .utf8)
        XCTAssertThrowsError(try ModelBundle.read(from: dir)) { XCTAssertTrue("\($0)".contains("newer"), "\($0)") }
        try FileManager.default.removeItem(atPath: (dir as NSString).appendingPathComponent(ModelBundle.headName))
        XCTAssertThrowsError(try ModelBundle.read(from: dir))
    }
}

/// A local seeded normal generator, so the test data do not depend on library code under test.
struct SeededGeneratorForTests {
    var state: UInt64
    init(_ seed: UInt64) { state = seed &+ 0x12345 }
    mutating func unit() -> Double {
        state = state &* 6364136223846793005 &+ 1442695040888963407
        return Double(state >> 11) / Double(1 << 53)
    }
    mutating func normal() -> Double {
        (-2 * log(max(unit(), 1e-300))).squareRoot() * cos(2 * .pi * unit())
    }
}
