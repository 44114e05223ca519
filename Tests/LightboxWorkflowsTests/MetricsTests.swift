import Foundation
import XCTest
@testable import LightboxHead

/// Metrics against scikit-learn (scripts/fixtures/make_metrics_fixture.py) and hand-computed values.
final class MetricsTests: XCTestCase {
    struct Case: Decodable {
        var labels: [Int], scores: [Double], accuracy: Double, confusion: [[Int]]
        var precision: [Double], recall: [Double], auc: Double, roc: [[Double]]
    }

    func cases() throws -> [Case] {
        let url = URL(fileURLWithPath: #filePath).deletingLastPathComponent().appendingPathComponent("Fixtures/metrics_reference.json")
        struct File: Decodable { var cases: [Case] }
        return try JSONDecoder().decode(File.self, from: Data(contentsOf: url)).cases
    }

    func testAgainstScikitLearn() throws {
        for (n, c) in try cases().enumerated() {
            let probabilities = c.scores.flatMap { [Float(1 - $0), Float($0)] }
            let m = ClassificationMetrics(classes: ["neg", "pos"], labels: c.labels, probabilities: probabilities,
                                          groups: c.labels.indices.map { "g\($0)" }, positive: 1, bootstrap: 0)
            XCTAssertEqual(m.accuracy, c.accuracy, accuracy: 1e-12, "case \(n)")
            XCTAssertEqual(m.confusion, c.confusion, "case \(n)")
            XCTAssertEqual(m.perClass["neg"]!.precision!, c.precision[0], accuracy: 1e-12)
            XCTAssertEqual(m.perClass["pos"]!.recall!, c.recall[1], accuracy: 1e-12)
            XCTAssertEqual(m.auc!, c.auc, accuracy: 1e-12, "case \(n)")
            // scikit-learn's curve (drop_intermediate=False) lists the same corners.
            let ours = m.roc!
            XCTAssertEqual(ours.count, c.roc.count, "case \(n)")
            for (a, b) in zip(ours, c.roc) {
                XCTAssertEqual(a[0], b[0], accuracy: 1e-12)
                XCTAssertEqual(a[1], b[1], accuracy: 1e-12)
            }
            // Sensitivity is the positive class's recall; specificity the negative's.
            XCTAssertEqual(m.sensitivity!, c.recall[1], accuracy: 1e-12)
            XCTAssertEqual(m.specificity!, c.recall[0], accuracy: 1e-12)
        }
    }

    func testHandComputedConfusionAndAUC() {
        // Scores for positives 0.9, 0.4; negatives 0.4, 0.1: pairs (0.9>0.4, 0.9>0.1, 0.4=0.4, 0.4>0.1) = 3.5/4.
        let m = ClassificationMetrics(classes: ["A", "B"], labels: [1, 1, 0, 0],
                                      probabilities: [0.1, 0.9, 0.6, 0.4, 0.6, 0.4, 0.9, 0.1],
                                      groups: ["p1", "p1", "p2", "p3"], positive: 1, bootstrap: 0)
        XCTAssertEqual(m.auc!, 0.875, accuracy: 1e-12)
        XCTAssertEqual(m.confusion, [[2, 0], [1, 1]])
        XCTAssertEqual(m.sensitivity!, 0.5)
        XCTAssertEqual(m.specificity!, 1.0)
        XCTAssertEqual(m.nPatients, 3)
        XCTAssertEqual(m.nImages, 4)
    }

    func testBootstrapResamplesPatientsAndBracketsTheEstimate() throws {
        let c = try cases()[1]
        // Pair images into patients: the interval comes from resampling those groups.
        let groups = c.labels.indices.map { "patient\($0 / 2)" }
        let m = ClassificationMetrics(classes: ["neg", "pos"], labels: c.labels,
                                      probabilities: c.scores.flatMap { [Float(1 - $0), Float($0)] },
                                      groups: groups, positive: 1, bootstrap: 500, seed: 9)
        let ci = try XCTUnwrap(m.aucCI)
        XCTAssertLessThan(ci[0], m.auc!)
        XCTAssertGreaterThan(ci[1], m.auc!)
        XCTAssertGreaterThan(ci[1] - ci[0], 0.05)
        let again = ClassificationMetrics(classes: ["neg", "pos"], labels: c.labels,
                                          probabilities: c.scores.flatMap { [Float(1 - $0), Float($0)] },
                                          groups: groups, positive: 1, bootstrap: 500, seed: 9)
        XCTAssertEqual(again.aucCI, m.aucCI, "same seed, same interval")
    }

    func testOneClassHasNoAUC() {
        XCTAssertNil(ROC.auc(scores: [0.1, 0.2], positive: [true, true]))
    }
}
