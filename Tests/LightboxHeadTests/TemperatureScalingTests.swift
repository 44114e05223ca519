import Foundation
import LightboxCore
import LightboxTestSupport
import XCTest
@testable import LightboxHead

/// Temperature scaling against torch (scripts/reference/temperature_reference.py: a dense grid
/// of log T, then LBFGS, in float64) on seeded, realistic probabilities: an overconfident
/// two-class model, an underconfident three-class one and a small out-of-fold-sized set. The
/// temperature must agree within 1e-4 relative, the loss within 1e-9, and the calibrated
/// probabilities within 1e-6.
final class TemperatureScalingTests: TemporaryFolderTestCase {
    struct Case {
        var name: String
        var classes: Int
        var probabilities: [Float]
        var labels: [Int]
        var rows: Int { labels.count }
    }

    /// `rows` pictures of `classes` classes: a latent score per class (the true class's mean
    /// `separation` higher, unit normal noise), then probabilities `softmax(scale * score)`. The
    /// true posterior is `softmax(separation * score)`, so `scale` above `separation` makes the
    /// model overconfident (its fitted temperature is about `scale / separation`), below it
    /// underconfident. Every 50th row is pushed to saturation, where p underflows the 1e-7 floor.
    static func synthetic(_ name: String, rows: Int, classes: Int, separation: Double, scale: Double, seed: UInt64) -> Case {
        var g = SeededGenerator(seed: seed, stream: name)
        var probabilities: [Float] = [], labels: [Int] = []
        for r in 0..<rows {
            let y = Int(g.next() % UInt64(classes))
            var logits = (0..<classes).map { c in (c == y ? separation : 0) + g.normal() }
            if r % 50 == 7 { logits[y] += 25 }  // saturated: the other classes' p below the floor
            let scaled = logits.map { $0 * scale }, top = scaled.max()!
            let e = scaled.map { exp($0 - top) }, total = e.reduce(0, +)
            probabilities += e.map { Float($0 / total) }
            labels.append(y)
        }
        return Case(name: name, classes: classes, probabilities: probabilities, labels: labels)
    }

    static let cases = [
        synthetic("overconfident_binary", rows: 600, classes: 2, separation: 1.5, scale: 3.2, seed: 1),
        synthetic("underconfident_three", rows: 450, classes: 3, separation: 2.0, scale: 0.45, seed: 2),
        synthetic("small_out_of_fold", rows: 40, classes: 2, separation: 1.0, scale: 2.0, seed: 3),
    ]

    func testFitAndApplyMatchTorch() throws {
        let python = try TorchReference.requirePython()
        let input = work.appendingPathComponent("in"), output = work.appendingPathComponent("out")
        try FileManager.default.createDirectory(at: input, withIntermediateDirectories: true)
        var index: [[String: Any]] = []
        for c in Self.cases {
            try c.probabilities.withUnsafeBytes { Data($0) }.write(to: input.appendingPathComponent("\(c.name).probabilities.f32"))
            try c.labels.map(Int32.init).withUnsafeBytes { Data($0) }.write(to: input.appendingPathComponent("\(c.name).labels.i32"))
            index.append(["name": c.name, "rows": c.rows, "classes": c.classes])
        }
        try JSONSerialization.data(withJSONObject: ["cases": index]).write(to: input.appendingPathComponent("index.json"))
        let (status, message) = try ReferenceScript.run(python, [TorchReference.script("temperature_reference.py"), input.path, output.path])
        XCTAssertEqual(status, 0, "temperature_reference.py failed: \(message)")
        guard status == 0 else { return }
        let result = try JSONSerialization.jsonObject(with: Data(contentsOf: output.appendingPathComponent("result.json"))) as! [String: Any]
        let references = result["cases"] as! [String: [String: Double]]

        for c in Self.cases {
            let reference = try XCTUnwrap(references[c.name])
            let fitted = try XCTUnwrap(TemperatureScaling.fit(probabilities: c.probabilities, labels: c.labels, classes: c.classes))
            let t = fitted.temperature, torchT = reference["temperature"]!
            XCTAssertEqual(t, torchT, accuracy: 1e-4 * torchT, "\(c.name): temperature, Lightbox vs torch")
            let ours = TemperatureScaling.negativeLogLikelihood(probabilities: c.probabilities, labels: c.labels, classes: c.classes,
                                                                temperature: t)
            XCTAssertEqual(ours, reference["nll"]!, accuracy: 1e-9, "\(c.name): the minimised loss, Lightbox vs torch")
            XCTAssertLessThanOrEqual(ours, reference["nll"]! + 1e-12, "\(c.name): Lightbox's minimum is no worse than torch's")
            XCTAssertEqual(TemperatureScaling.negativeLogLikelihood(probabilities: c.probabilities, labels: c.labels, classes: c.classes,
                                                                    temperature: 1),
                           reference["nll_at_1"]!, accuracy: 1e-9, "\(c.name): the loss before calibration")
            // The calibration matters on these data: far from T = 1, the loss clearly lower.
            XCTAssertGreaterThan(abs(log(t)), 0.3, "\(c.name): T = \(t) should be far from 1")
            XCTAssertLessThan(ours, reference["nll_at_1"]! - 0.01, "\(c.name): calibration lowers the loss")

            // apply: torch's softmax(log(p) / T) at torch's T.
            let calibrated = TemperatureScaling(temperature: torchT).apply(c.probabilities, classes: c.classes)
            let theirs = try Data(contentsOf: output.appendingPathComponent("\(c.name).calibrated.f32"))
                .withUnsafeBytes { Array($0.bindMemory(to: Float.self)) }
            XCTAssertEqual(theirs.count, calibrated.count)
            let worst = zip(calibrated, theirs).map { abs($0 - $1) }.max() ?? .infinity
            XCTAssertLessThan(worst, 1e-6, "\(c.name): calibrated probabilities, Lightbox vs torch")
        }
        // Overconfident: T above 1 (near scale / separation, 2.1); underconfident: below 1 (near 0.22).
        XCTAssertEqual(references["overconfident_binary"]!["temperature"]!, 2.1, accuracy: 0.3)
        XCTAssertEqual(references["underconfident_three"]!["temperature"]!, 0.22, accuracy: 0.05)
    }

    func testApplyKeepsRowsAndRanking() {
        let c = Self.cases[1]
        XCTAssertEqual(TemperatureScaling(temperature: 1).apply(c.probabilities, classes: 3), c.probabilities, "T = 1 is the input, exactly")
        for t in [0.3, 2.5] {
            let p = TemperatureScaling(temperature: t).apply(c.probabilities, classes: 3)
            for r in 0..<c.rows {
                let row = Array(p[(r * 3)..<(r * 3 + 3)]), original = Array(c.probabilities[(r * 3)..<(r * 3 + 3)])
                XCTAssertEqual(row.reduce(0, +), 1, accuracy: 1e-5)
                XCTAssertEqual(Argmax.of(row), Argmax.of(original), "row \(r): the predicted class stays")
            }
        }
    }

    func testFitRefusesTooLittleAndKeepsToItsRange() {
        XCTAssertNil(TemperatureScaling.fit(probabilities: [0.9, 0.1], labels: [0], classes: 2), "one row")
        XCTAssertNil(TemperatureScaling.fit(probabilities: [0.9, 0.1, 0.6, 0.4, 0.2, 0.8], labels: [1, 1, 1], classes: 2), "one label value")
        // Perfectly separated: sharper is always better, down to the range's end.
        XCTAssertEqual(TemperatureScaling.fit(probabilities: [0.9, 0.1, 0.2, 0.8], labels: [0, 1], classes: 2)?.temperature,
                       TemperatureScaling.fittedRange.lowerBound)
        // Confident and always wrong: as flat as the range allows.
        XCTAssertEqual(TemperatureScaling.fit(probabilities: [0.9, 0.1, 0.2, 0.8], labels: [1, 0], classes: 2)?.temperature,
                       TemperatureScaling.fittedRange.upperBound)
    }
}
