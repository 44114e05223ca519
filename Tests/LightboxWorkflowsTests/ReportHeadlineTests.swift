import Foundation
import LightboxData
import LightboxHead
import LightboxReport
import XCTest

/// The box at the top of report.html: the figures with their intervals, the baseline of always
/// answering the largest class, the chance line and the shortcut verdict, all from `Headline`.
final class ReportHeadlineTests: XCTestCase {
    /// `positives` COVID-19 and `negatives` OTHER pictures, `perPatient` pictures a patient; the
    /// COVID-19 probability of picture i is `score(i, positive)`.
    func scored(positives: Int, negatives: Int, perPatient: Int = 1, bootstrap: Int = 1000,
                score: (Int, Bool) -> Double) -> (ClassificationMetrics, [LabeledImage]) {
        var labels: [Int] = [], probabilities: [Float] = [], groups: [String] = [], images: [LabeledImage] = []
        for i in 0..<(positives + negatives) {
            let positive = i < positives
            let p = score(i, positive)
            labels.append(positive ? 0 : 1)
            probabilities += [Float(p), Float(1 - p)]
            let group = "\(positive ? "c" : "o")\((positive ? i : i - positives) / perPatient)"
            groups.append(group)
            images.append(LabeledImage(path: "/x/\(i).png", label: positive ? "COVID-19" : "OTHER", group: group))
        }
        let m = ClassificationMetrics(classes: ["COVID-19", "OTHER"], labels: labels, probabilities: probabilities, groups: groups,
                                      positive: 0, bootstrap: bootstrap, seed: 7)
        return (m, images)
    }

    func report(_ m: ClassificationMetrics, _ images: [LabeledImage], audit: AuditSection?) -> String {
        let dataset = Dataset(images: images, skipped: [], hasGroups: true, source: "synthetic")
        return RunReport(title: "t", dataset: dataset, parts: [(name: "test", images: images)],
                         evaluation: .heldOutTest(images: m.nImages, patients: m.nPatients),
                         history: [EpochRecord(epoch: 1, trainLoss: 0.5, trainAccuracy: 0.7)], keptEpoch: 1, metrics: m,
                         validation: nil, balanceNotes: [], examples: [], audit: audit, parameters: []).html()
    }

    /// The headline box's text, entities turned back into characters.
    func box(_ html: String) throws -> String {
        let start = try XCTUnwrap(html.range(of: "<section class='headline'"), "report has no headline box")
        let end = try XCTUnwrap(html.range(of: "</section>", range: start.upperBound..<html.endIndex))
        return Self.unescaped(String(html[start.lowerBound..<end.upperBound]))
    }

    /// The example of issue 26: 64 test pictures, 50 of them COVID-19, a model that says COVID-19
    /// for every picture and ranks them at random. Its 78.1% is the baseline's, its AUC chance's.
    func testBoxShowsBaselineIntervalsChanceAndShortcutVerdict() throws {
        // Every COVID-19 probability above 0.5, spread the same way for both classes.
        let (m, images) = scored(positives: 50, negatives: 14) { i, _ in 0.55 + 0.4 * (Double(i) * 0.618).truncatingRemainder(dividingBy: 1) }
        XCTAssertEqual(m.accuracy, 50.0 / 64, accuracy: 1e-12)
        let verdict = "Warning: with the lungs hidden the model still scores AUC 0.81 (0.83 on whole pictures)."
        let html = report(m, images, audit: AuditSection(rows: [], verdict: verdict, warning: true))
        let box = try box(html)
        let headline = Headline(metrics: m, scope: "test", shortcut: .init(outcome: nil, suspected: true, verdict: verdict))

        // At the top: before the first section of the report, after the notice.
        let boxStart = html.range(of: "<section class='headline'")!.lowerBound
        XCTAssertLessThan(html.range(of: "Not a diagnostic device")!.lowerBound, boxStart)
        XCTAssertLessThan(boxStart, html.range(of: "<h2>Test set</h2>")!.lowerBound)

        XCTAssertTrue(box.contains("Always answering COVID-19 scores 78.1% (50 of 64 test images)"), box)
        XCTAssertTrue(box.contains("The accuracy (78.1%) is no better than always answering COVID-19 (78.1%)."), box)
        // Every figure with its patient-bootstrap interval, in the box as in the headline.
        XCTAssertEqual(headline.figures.map(\.key), ["accuracy", "auc", "sensitivity", "specificity"])
        for f in headline.figures {
            let ci = try XCTUnwrap(f.interval, f.key)
            XCTAssertNil(f.noInterval)
            // Every COVID-19 picture right and every OTHER one wrong: a patient bootstrap of those
            // rates has no width, so they get Wilson's interval on pictures.
            XCTAssertTrue(f.method?.contains(["accuracy", "auc"].contains(f.key) ? "patient bootstrap" : "Wilson") ?? false, f.key)
            XCTAssertLessThanOrEqual(ci[0], f.value!)
            XCTAssertGreaterThanOrEqual(ci[1], f.value!)
            let shown = try XCTUnwrap(f.intervalText)
            XCTAssertTrue(box.contains(f.text) && box.contains(shown), "\(f.key): \(box)")
        }
        let sensitivity = try XCTUnwrap(headline.figures.first { $0.key == "sensitivity" }?.interval)
        XCTAssertEqual(sensitivity, Headline.wilson(successes: 50, trials: 50))
        XCTAssertEqual(sensitivity[0], 0.9287, accuracy: 1e-4)
        let auc = try XCTUnwrap(headline.figures.first { $0.key == "auc" }?.interval)
        XCTAssertTrue(auc[0] < 0.5 && 0.5 < auc[1], "a random ranking: \(auc)")
        XCTAssertTrue(box.contains(String(format: "No better than chance: the 95%% interval of the AUC (%.3f–%.3f) contains 0.5.", auc[0], auc[1])), box)
        XCTAssertTrue(box.contains(verdict), box)
        XCTAssertTrue(box.contains("class='warn'><b>Shortcut audit:</b>"), box)
        // Uncertainty told by the width of the intervals, never understated.
        let spec = try XCTUnwrap(headline.figures.first { $0.key == "specificity" }?.interval)
        XCTAssertTrue(box.contains(String(format: "specificity from %.1f%% to %.1f%%", spec[0] * 100, spec[1] * 100)), box)
        XCTAssertFalse(html.contains("several points"), "the understating wording is gone")
        XCTAssertFalse(html.contains("uncertain by"))
        XCTAssertTrue(html.contains("Not a diagnostic device"))
    }

    /// A model that beats the baseline and chance gets neither warning, and no chance line.
    func testAGoodModelHasNoChanceOrBaselineWarning() throws {
        let (m, images) = scored(positives: 30, negatives: 30) { i, positive in
            (positive ? 0.6 : 0.1) + 0.3 * (Double(i) * 0.618).truncatingRemainder(dividingBy: 1)
        }
        let box = try box(report(m, images, audit: nil))
        XCTAssertFalse(box.contains("No better than chance"), box)
        XCTAssertFalse(box.contains("no better than always answering"), box)
        XCTAssertTrue(box.contains("Always answering COVID-19 scores 50.0% (30 of 60 test images)"), box)
        XCTAssertTrue(box.contains("Shortcut audit: not run."), box)
    }

    /// One picture per patient, with patient ids (the Studio's sample project): as many patients
    /// as pictures, and still no "the images carry no patient ids" note; without ids, the note.
    func testOnePicturePerPatientIsNotTakenForNoPatientIds() throws {
        let (m, _) = scored(positives: 30, negatives: 30) { i, positive in (positive ? 0.6 : 0.3) + 0.01 * Double(i % 7) }
        let known = Headline(metrics: m, scope: "out-of-fold", shortcut: nil, patientIDs: true)
        XCTAssertFalse(known.notes.contains { $0.kind == "no_patient_ids" }, "\(known.notes)")
        XCTAssertTrue(known.summary.contains("60 out-of-fold images of 60 patients"), known.summary)
        let none = Headline(metrics: m, scope: "out-of-fold", shortcut: nil, patientIDs: false)
        XCTAssertTrue(none.notes.contains { $0.kind == "no_patient_ids" }, "\(none.notes)")
        XCTAssertEqual(Headline(metrics: m, scope: "out-of-fold", shortcut: nil).notes, none.notes, "not recorded: taken as none")
    }

    /// Two test patients (issue 26 printed "AUC 0.562 (95% CI 0.562-0.562)"), and four of a
    /// class: no figure gets an interval, and the report says why.
    func testNoIntervalBelowFivePatientsPerClass() throws {
        for (negatives, perPatient) in [(6, 6), (4, 1)] {
            let (m, images) = scored(positives: 10, negatives: negatives, perPatient: perPatient) { i, positive in
                (positive ? 0.45 : 0.35) + 0.3 * (Double(i) * 0.618).truncatingRemainder(dividingBy: 1)
            }
            let html = report(m, images, audit: nil)
            let box = try box(html)
            let headline = Headline(metrics: m, scope: "test", shortcut: nil)
            for f in headline.figures {
                XCTAssertNil(f.interval, f.key)
                XCTAssertTrue(f.noInterval?.contains("fewer than 5 patients in a class") ?? false, "\(f.key): \(f.noInterval ?? "nil")")
            }
            XCTAssertFalse(html.contains("95% CI"), "no interval anywhere in the report")
            XCTAssertTrue(box.contains("fewer than 5 patients in a class"), box)
            XCTAssertTrue(box.contains("could change completely"), box)
            XCTAssertTrue(box.contains("Whether the model does better than chance is unknown"), box)
        }
    }

    /// Without a patient bootstrap (none recorded) sensitivity and specificity fall back to
    /// Wilson score intervals on pictures, and say so.
    func testWilsonIntervalWithoutBootstrap() throws {
        // 10 COVID-19 pictures, 8 called COVID-19; 10 OTHER, all called OTHER.
        let (m, _) = scored(positives: 10, negatives: 10, bootstrap: 0) { i, positive in positive ? (i < 8 ? 0.9 : 0.2) : 0.1 }
        let headline = Headline(metrics: m, scope: "test", shortcut: nil)
        let sensitivity = try XCTUnwrap(headline.figures.first { $0.key == "sensitivity" })
        let ci = try XCTUnwrap(sensitivity.interval)
        // Wilson's interval for 8 of 10: 0.490 to 0.943.
        XCTAssertEqual(ci[0], 0.4902, accuracy: 1e-4)
        XCTAssertEqual(ci[1], 0.9433, accuracy: 1e-4)
        XCTAssertTrue(sensitivity.method?.contains("Wilson") ?? false)
        XCTAssertNil(headline.figures.first { $0.key == "auc" }?.interval, "no AUC interval without a bootstrap")
    }

    static func unescaped(_ s: String) -> String {
        [("&#39;", "'"), ("&#x27;", "'"), ("&quot;", "\""), ("&lt;", "<"), ("&gt;", ">"), ("&amp;", "&")]
            .reduce(s) { $0.replacingOccurrences(of: $1.0, with: $1.1) }
    }
}
