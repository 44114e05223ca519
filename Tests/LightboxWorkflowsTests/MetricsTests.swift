import Foundation
import XCTest
@testable import LightboxHead

/// Metrics against scikit-learn (scripts/fixtures/make_metrics_fixture.py) and hand-computed values.
final class MetricsTests: XCTestCase {
    struct Case: Decodable {
        var labels: [Int], scores: [Double], accuracy: Double, confusion: [[Int]]
        var precision: [Double], recall: [Double], auc: Double, roc: [[Double]]
        var brier: Double
        var calibration_observed: [Double], calibration_mean_predicted: [Double]
        var threshold_0_4_recall: [Double]
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

    /// Brier score (brier_score_loss), the reliability diagram (calibration_curve, 10 uniform
    /// bins, empty ones dropped) and the metrics at a threshold of 0.4 (recall_score of s >= 0.4)
    /// against scikit-learn, within 1e-12.
    func testCalibrationAndThresholdAgainstScikitLearn() throws {
        for (n, c) in try cases().enumerated() {
            let probabilities = c.scores.flatMap { [Float(1 - $0), Float($0)] }
            let groups = c.labels.indices.map { "g\($0)" }
            let m = ClassificationMetrics(classes: ["neg", "pos"], labels: c.labels, probabilities: probabilities,
                                          groups: groups, positive: 1, bootstrap: 0)
            // Probabilities pass through Float: compare with scores rounded the same way.
            XCTAssertEqual(m.brier!, c.brier, accuracy: 1e-6, "case \(n)")
            let bins = try XCTUnwrap(m.calibration).filter { $0.count > 0 }
            XCTAssertEqual(bins.map { $0.observedFraction! }, c.calibration_observed, "case \(n)")
            for (a, b) in zip(bins.map { $0.meanProbability! }, c.calibration_mean_predicted) { XCTAssertEqual(a, b, accuracy: 1e-6) }
            XCTAssertEqual(bins.count, c.calibration_mean_predicted.count)
            XCTAssertEqual(m.atArgmax?.threshold, 0.5)
            XCTAssertEqual(m.threshold, 0.5, "without an operating point the model predicts by argmax")

            let point = OperatingPoint(positiveClass: "pos", threshold: Double(Float(0.4)), targetSensitivity: 0.9,
                                       validationSensitivity: 0.9, validationSpecificity: nil)
            let at = ClassificationMetrics(classes: ["neg", "pos"], labels: c.labels, probabilities: probabilities, groups: groups,
                                           positive: 1, decision: DecisionRule(operatingPoint: point, classes: ["neg", "pos"]),
                                           bootstrap: 0)
            XCTAssertEqual(at.sensitivity!, c.threshold_0_4_recall[1], accuracy: 1e-12, "case \(n)")
            XCTAssertEqual(at.specificity!, c.threshold_0_4_recall[0], accuracy: 1e-12, "case \(n)")
            XCTAssertEqual(at.threshold, Double(Float(0.4)))
            // The argmax figures stay beside the operating point's.
            XCTAssertEqual(at.atArgmax!.sensitivity!, c.recall[1], accuracy: 1e-12)
            XCTAssertEqual(at.atArgmax!.specificity!, c.recall[0], accuracy: 1e-12)
        }
    }

    /// The operating point is the highest threshold that catches the target share of the
    /// validation positives.
    func testOperatingPointReachesTheTargetSensitivity() throws {
        // Positives score 0.9, 0.8, 0.7, 0.6, 0.2; negatives 0.5, 0.3, 0.1.
        let scores: [Float] = [0.9, 0.8, 0.7, 0.6, 0.2, 0.5, 0.3, 0.1]
        let labels = [1, 1, 1, 1, 1, 0, 0, 0]
        let probabilities = scores.flatMap { [1 - $0, $0] }
        let p80 = try XCTUnwrap(OperatingPoint.choose(probabilities: probabilities, labels: labels, classes: ["neg", "pos"],
                                                      positive: 1, targetSensitivity: 0.8))
        XCTAssertEqual(p80.threshold, Double(Float(0.6)))
        XCTAssertEqual(p80.validationSensitivity, 0.8)
        XCTAssertEqual(p80.validationSpecificity!, 1.0)
        // 85% of 5 positives needs all 5: the threshold drops to the lowest positive, 0.2.
        let p85 = try XCTUnwrap(OperatingPoint.choose(probabilities: probabilities, labels: labels, classes: ["neg", "pos"],
                                                      positive: 1, targetSensitivity: 0.85))
        XCTAssertEqual(p85.threshold, Double(Float(0.2)))
        XCTAssertEqual(p85.validationSensitivity, 1.0)
        XCTAssertEqual(p85.validationSpecificity!, 1.0 / 3, accuracy: 1e-12)
        // The positive class at index 0 works the same way.
        let flipped = scores.flatMap { [$0, 1 - $0] }
        XCTAssertEqual(OperatingPoint.choose(probabilities: flipped, labels: labels.map { 1 - $0 }, classes: ["pos", "neg"],
                                             positive: 0, targetSensitivity: 0.8)?.threshold, Double(Float(0.6)))
        XCTAssertNil(OperatingPoint.choose(probabilities: probabilities, labels: [0, 0, 0, 0, 0, 0, 0, 0], classes: ["neg", "pos"],
                                           positive: 1, targetSensitivity: 0.8), "no positive image, no operating point")
        // The rule predicts the positive class at and above the threshold only.
        let rule = DecisionRule(operatingPoint: p80, classes: ["neg", "pos"])
        XCTAssertEqual(rule.predicted(probabilities, columns: 2), [1, 1, 1, 1, 0, 0, 0, 0])
        XCTAssertEqual(DecisionRule(operatingPoint: p80, classes: ["a", "b"]), .argmax, "a point for other classes is ignored")
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

    /// With one picture a patient the patient bootstrap is the binomial's: its interval for 170
    /// of 200 matches Wilson's score interval (0.795-0.893, from the closed form) within 0.02,
    /// the bootstrap's own resampling error at 1000 resamples.
    func testSensitivityIntervalMatchesWilsonWithOnePicturePerPatient() {
        let correct = (0..<200).map { $0 < 170 } + [Bool](repeating: true, count: 50)
        let positive = [Bool](repeating: true, count: 200) + [Bool](repeating: false, count: 50)
        let groups = (0..<250).map { "p\($0)" }
        let (se, sp) = ROC.bootstrapRateIntervals(correct: correct, positive: positive, groups: groups, resamples: 1000, seed: 7)
        let z = 1.959964, n = 200.0, p = 0.85
        let centre = (p + z * z / (2 * n)) / (1 + z * z / n)
        let half = z * (p * (1 - p) / n + z * z / (4 * n * n)).squareRoot() / (1 + z * z / n)
        XCTAssertEqual(se![0], centre - half, accuracy: 0.02)
        XCTAssertEqual(se![1], centre + half, accuracy: 0.02)
        // Every negative called right: the interval is the point.
        XCTAssertEqual(sp!, [1, 1])
    }

    /// Pictures of one patient move together: the same 170 of 200 correct pictures from 20
    /// patients (10 each, a patient all right or all wrong) give a much wider interval than from
    /// 200 patients; and with fewer than five patients of a side there is none.
    func testSensitivityIntervalResamplesPatientsNotPictures() {
        let correct = (0..<200).map { $0 < 170 }, positive = [Bool](repeating: true, count: 200)
        let few = ROC.bootstrapRateIntervals(correct: correct, positive: positive, groups: (0..<200).map { "p\($0 / 10)" },
                                             resamples: 1000, seed: 7).sensitivity!
        let many = ROC.bootstrapRateIntervals(correct: correct, positive: positive, groups: (0..<200).map { "p\($0)" },
                                              resamples: 1000, seed: 7).sensitivity!
        XCTAssertGreaterThan(few[1] - few[0], 2 * (many[1] - many[0]))
        XCTAssertNil(ROC.bootstrapRateIntervals(correct: correct, positive: positive, groups: (0..<200).map { "p\($0 / 50)" },
                                                resamples: 1000, seed: 7).sensitivity)
    }
}
