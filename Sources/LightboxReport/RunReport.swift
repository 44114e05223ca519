import Foundation
import LightboxData
import LightboxHead
import Mustache

/// A test image shown in the report: what it is, what the model said, and where it looked.
public struct HeatmapExample: Sendable {
    public var path: String
    public var label: String
    public var predicted: String
    public var confidence: Float
    /// PNG of the model's input with the Grad-CAM heatmap of the predicted class over it.
    public var png: Data

    /// What the report calls the picture.
    public var name: String

    public init(path: String, name: String? = nil, label: String, predicted: String, confidence: Float, png: Data) {
        self.path = path
        self.name = name ?? (path as NSString).lastPathComponent
        self.label = label
        self.predicted = predicted
        self.confidence = confidence
        self.png = png
    }
}

/// The shortcut audit as the report shows it: one row per version of the test images.
public struct AuditSection: Sendable {
    public struct Row: Sendable {
        public var description: String, auc: Double?, accuracy: Double, images: Int
        public init(description: String, auc: Double?, accuracy: Double, images: Int) {
            self.description = description
            self.auc = auc
            self.accuracy = accuracy
            self.images = images
        }
    }
    public var rows: [Row]
    public var verdict: String
    /// The verdict warns of a shortcut (shown as a warning).
    public var warning: Bool
    /// Which box was blanked, in words.
    public var box: String?
    /// The heatmaps' mean mass inside the lungs with its baseline, in words (lungs located only).
    public var heatmapMass: String?

    public init(rows: [Row], verdict: String, warning: Bool) {
        self.rows = rows
        self.verdict = verdict
        self.warning = warning
    }
}

/// `report.html`: one self-contained page (inline SVG and images) with everything needed to
/// judge a run: headline metrics with their uncertainty, curves, confusion matrix, ROC,
/// the worst mistakes with heatmaps, the data and every parameter.
///
/// The page is `Resources/report.mustache`; every value goes through Mustache's HTML escaping
/// except the charts, which `SVGChart` builds from numbers and escaped names.
public struct RunReport {
    /// What the report's figures rest on, in its words: one split's test patients, or every
    /// patient out of fold (with the folds' own AUCs and a held-out test set beside them).
    public struct Evaluation {
        /// The section heading and the sentence under it.
        public var heading: String, description: String
        /// The word in the cards and section titles ("Test accuracy", "Confusion matrix (test)").
        public var noun: String, scope: String
        /// Cross-fitting's lines: the folds' own AUCs and what the shipped ensemble is.
        public var notes: [String]
        /// How the operating point was chosen, and why there is none.
        public var pointSource: String, noPointReason: String?
        /// Cross-fitting's held-out test set, scored by the whole ensemble.
        public var heldOut: ClassificationMetrics?
        /// The temperature fitted on the out-of-fold predictions, and the Brier score and
        /// reliability bins before it was applied (the figures shown are after).
        public var calibration: (temperature: Double, brierBefore: Double?, binsBefore: [CalibrationBin]?)?

        /// One split's test patients (`--folds 1`).
        public static func heldOutTest(images: Int, patients: Int) -> Evaluation {
            Evaluation(heading: "Test set",
                       description: "\(images) images of \(patients) patients (groups) that the model never saw in training or model selection.",
                       noun: "Test", scope: "test", notes: [], pointSource: "the validation split", noPointReason: nil, heldOut: nil,
                       calibration: nil)
        }

        /// Every fold picture scored by the members that did not train on its fold.
        public static func outOfFold(images: Int, patients: Int, folds: Int, members: Int, foldAUCs: [Double?],
                                     heldOut: ClassificationMetrics?, noPointReason: String?) -> Evaluation {
            let known = foldAUCs.compactMap { $0 }
            var notes = ["Fold AUCs (each fold scored by the members that did not train on it): "
                + foldAUCs.map { $0.map { String(format: "%.3f", $0) } ?? "n/a" }.joined(separator: ", ")
                + (known.count > 1 ? String(format: "; they range over %.3f.", known.max()! - known.min()!) : ".")]
            notes.append("The shipped model averages all \(members) members, so it is usually a little better than these figures, which describe models trained on \(folds - 1) of \(folds) folds.")
            return Evaluation(heading: "Out-of-fold evaluation",
                              description: "\(images) images of \(patients) patients (groups), every one scored by a model that never saw that patient: \(folds)-fold cross-fitting, patients kept within one fold.",
                              noun: "Out-of-fold", scope: "out of fold", notes: notes,
                              pointSource: "the out-of-fold predictions of every patient", noPointReason: noPointReason, heldOut: heldOut,
                              calibration: nil)
        }
    }

    public var title: String
    public var dataset: Dataset
    /// The parts the patients were divided into (train, validation, test; or the folds and test).
    public var parts: [(name: String, images: [LabeledImage])]
    public var evaluation: Evaluation
    public var history: [EpochRecord]
    public var keptEpoch: Int
    public var metrics: ClassificationMetrics
    public var validation: (loss: Double, accuracy: Double)?
    public var balanceNotes: [String]
    public var examples: [HeatmapExample]
    /// The threshold the model predicts with (two classes), chosen on the validation split.
    public var operatingPoint: OperatingPoint?
    /// The shortcut audit on the test split.
    public var audit: AuditSection?
    /// The run's settings, as (name, value) rows.
    public var parameters: [(String, String)]
    /// The box at the top: the figures with their intervals, the baseline, the chance line and
    /// the shortcut verdict (the same object metrics.json and the Studio carry).
    public var headline: Headline

    public init(title: String, dataset: Dataset, parts: [(name: String, images: [LabeledImage])], evaluation: Evaluation,
                history: [EpochRecord], keptEpoch: Int,
                metrics: ClassificationMetrics, validation: (loss: Double, accuracy: Double)?, balanceNotes: [String],
                examples: [HeatmapExample], operatingPoint: OperatingPoint? = nil, audit: AuditSection? = nil,
                headline: Headline? = nil, parameters: [(String, String)]) {
        self.title = title
        self.dataset = dataset
        self.parts = parts
        self.evaluation = evaluation
        self.history = history
        self.keptEpoch = keptEpoch
        self.metrics = metrics
        self.validation = validation
        self.balanceNotes = balanceNotes
        self.examples = examples
        self.operatingPoint = operatingPoint
        self.audit = audit
        self.parameters = parameters
        self.headline = headline ?? Headline(metrics: metrics, scope: evaluation.scope == "test" ? "test" : "out-of-fold",
                                             shortcut: audit.map { .init(outcome: nil, suspected: $0.warning, verdict: $0.verdict) })
    }

    static let template: MustacheTemplate = {
        // The template is part of the source: a parse error is a programming error caught by every test that renders.
        try! MustacheTemplate(string: String(decoding: PackageResources.report_mustache, as: UTF8.self))
    }()

    public func html() -> String { Self.template.render(page()) }

    // MARK: what the template shows

    struct Page {
        struct Named { var name: String, value: String }
        struct Test {
            var heading: String, description: String, noun: String, scope: String
            var images: Int, patients: Int, cards: [Named]
            var notes: [String]
            var validation: String?
            var heldOut: HeldOut?
        }
        struct HeldOut { var images: Int, patients: Int, cards: [Named] }
        struct Training { var epochs: Int, keptEpoch: Int, lossChart: String, accuracyChart: String }
        struct Cell { var count: Int, diagonal: Bool }
        struct ConfusionRow { var name: String, cells: [Cell] }
        struct ClassRow { var name: String, support: Int, precision: String, recall: String }
        struct Example { var png: String, label: String, predicted: String, confidence: String, file: String }
        struct Examples {
            var title: String?
            var items: [Example]
        }
        struct Part { var name: String, counts: [Int], patients: Int }
        struct Reason { var reason: String, count: Int }
        struct DataSummary {
            var source: String, grouping: String, parts: [Part]
            var balance: String?
            var skipped: Int, reasons: [Reason]
            var anySkipped: Bool  // stored: the template reads properties by reflection
        }

        var title: String
        var generated: String
        var classes: [String]
        var headline: Headline
        var test: Test
        var training: Training
        var confusion: [ConfusionRow]
        var perClass: [ClassRow]
        var rocChart: String?
        struct ThresholdRow { var name: String, threshold: String, accuracy: String, sensitivity: String, specificity: String }
        struct Decision {
            var positive: String
            /// How the threshold was chosen, in words.
            var rule: String
            var rows: [ThresholdRow]
        }
        var decision: Decision?
        struct Calibration { var brier: String, chart: String?, fitted: String? }
        var calibration: Calibration?
        struct AuditRow { var description: String, auc: String, accuracy: String, images: Int }
        struct Audit { var rows: [AuditRow], verdict: String, warning: Bool, box: String?, heatmapMass: String? }
        var audit: Audit?
        var examples: Examples
        var data: DataSummary
        var parameters: [Named]
    }

    func page() -> Page {
        Page(title: title, generated: ISO8601DateFormatter().string(from: Date()), classes: metrics.classes,
             headline: headline, test: testSummary(), training: trainingCurves(),
             confusion: metrics.classes.enumerated().map { i, c in
                 .init(name: c, cells: metrics.classes.indices.map { j in .init(count: metrics.confusion[i][j], diagonal: i == j) })
             },
             perClass: metrics.classes.map { c in
                 let m = metrics.perClass[c]!
                 return .init(name: c, support: m.support, precision: Self.percent(m.precision), recall: Self.percent(m.recall))
             },
             rocChart: rocChart(), decision: decisionSummary(), calibration: calibrationSummary(),
             audit: audit.map { a in
                 .init(rows: a.rows.map { .init(description: $0.description, auc: $0.auc.map { String(format: "%.3f", $0) } ?? "n/a",
                                                accuracy: Self.percent($0.accuracy), images: $0.images) },
                       verdict: a.verdict, warning: a.warning, box: a.box, heatmapMass: a.heatmapMass)
             }, examples: exampleFigures(), data: dataSummary(),
             parameters: parameters.map { .init(name: $0.0, value: $0.1) })
    }

    func testSummary() -> Page.Test {
        let validationText = validation.map { String(format: "accuracy %.1f%%, loss %.3f", $0.accuracy * 100, $0.loss) }
        let e = evaluation
        return .init(heading: e.heading, description: e.description, noun: e.noun, scope: e.scope,
                     images: metrics.nImages, patients: metrics.nPatients, cards: Self.cards(headline, noun: e.noun), notes: e.notes,
                     validation: validationText,
                     heldOut: e.heldOut.map {
                         .init(images: $0.nImages, patients: $0.nPatients,
                               cards: Self.cards(Headline(metrics: $0, scope: "held-out test", shortcut: nil), noun: "Test"))
                     })
    }

    /// The cards of a headline's figures, each with its interval or "no interval".
    static func cards(_ h: Headline, noun: String) -> [Page.Named] {
        h.figures.map { f in
            .init(name: f.key == "accuracy" ? "\(noun) accuracy" : f.name,
                  value: f.text + (f.intervalText.map { " (\($0))" } ?? " (no interval)"))
        }
    }

    func trainingCurves() -> Page.Training {
        let e = history.map { Double($0.epoch) }
        var loss = [SVGChart.Series(name: "training loss", color: "#1f77b4", points: Array(zip(e, history.map(\.trainLoss))))]
        var accuracy = [SVGChart.Series(name: "training accuracy", color: "#1f77b4", points: Array(zip(e, history.map(\.trainAccuracy))))]
        if history.contains(where: { $0.valLoss != nil }) {
            loss.append(.init(name: "validation loss", color: "#d62728", points: history.compactMap { r in r.valLoss.map { (Double(r.epoch), $0) } }, dashed: true))
            accuracy.append(.init(name: "validation accuracy", color: "#d62728", points: history.compactMap { r in r.valAccuracy.map { (Double(r.epoch), $0) } }, dashed: true))
        }
        return .init(epochs: history.count, keptEpoch: keptEpoch,
                     lossChart: SVGChart.lines(loss, xLabel: "epoch", yLabel: "loss"),
                     accuracyChart: SVGChart.lines(accuracy, xLabel: "epoch", yLabel: "accuracy", yRange: 0...1))
    }

    func rocChart() -> String? {
        guard let roc = metrics.roc, !roc.isEmpty, let positive = metrics.positiveClass else { return nil }
        let curve = SVGChart.Series(name: "ROC (\(positive) positive)", color: "#2ca02c", points: roc.map { ($0[0], $0[1]) })
        let chance = SVGChart.Series(name: "chance", color: "#999", points: [(0, 0), (1, 1)], dashed: true)
        return SVGChart.lines([curve, chance], xLabel: "false positive rate (1 - specificity)",
                              yLabel: "true positive rate (sensitivity)", yRange: 0...1, xRange: 0...1, width: 360, height: 340)
    }

    /// The threshold the model predicts with, and what the test split says at it and at argmax.
    func decisionSummary() -> Page.Decision? {
        guard let positive = metrics.positiveClass, let argmax = metrics.atArgmax else { return nil }
        func f(_ v: Double?) -> String { v.map { String(format: "%.3f", $0) } ?? "n/a" }
        var rows: [Page.ThresholdRow] = []
        let rule: String
        if let point = operatingPoint, point.positiveClass == positive {
            if evaluation.heldOut == nil && evaluation.scope == "test" {
                rule = "The model says \(positive) when its probability is at least \(f(point.threshold)). The threshold was chosen on "
                    + "the validation split to catch \(Self.percent(point.targetSensitivity)) of its \(positive) images (it caught "
                    + "\(Self.percent(point.validationSensitivity)), with specificity \(Self.percent(point.validationSpecificity)) there). "
                    + "The test split below is the honest check; a lower test sensitivity means the validation split was small or unlike it."
            } else {
                rule = "The model says \(positive) when its probability is at least \(f(point.threshold)). The threshold was chosen on "
                    + "\(evaluation.pointSource) to catch \(Self.percent(point.targetSensitivity)) of the \(positive) images (it caught "
                    + "\(Self.percent(point.validationSensitivity)), with specificity \(Self.percent(point.validationSpecificity)) there). "
                    + "The figures below are on the same predictions, so they are slightly optimistic about the threshold; a held-out test set (--test-split) checks it on patients nothing was chosen on."
            }
            rows.append(.init(name: "operating point (used)", threshold: f(point.threshold), accuracy: Self.percent(metrics.accuracy),
                              sensitivity: Self.percent(metrics.sensitivity), specificity: Self.percent(metrics.specificity)))
        } else if let reason = evaluation.noPointReason, evaluation.scope != "test" {
            rule = "The model predicts the more probable class (threshold 0.5): \(reason)."
        } else {
            rule = "The model predicts the more probable class (threshold 0.5): no operating point was chosen, because the validation split had no \(positive) image."
        }
        rows.append(.init(name: "argmax (probability 0.5)", threshold: "0.500", accuracy: Self.percent(argmax.accuracy),
                          sensitivity: Self.percent(argmax.sensitivity), specificity: Self.percent(argmax.specificity)))
        return .init(positive: positive, rule: rule, rows: rows)
    }

    /// The Brier score and, with two classes, the reliability diagram.
    func calibrationSummary() -> Page.Calibration? {
        guard let brier = metrics.brier else { return nil }
        var chart: String?
        func points(_ bins: [CalibrationBin]) -> [(Double, Double)] {
            bins.compactMap { b in b.meanProbability.flatMap { m in b.observedFraction.map { (m, $0) } } }
        }
        if let bins = metrics.calibration, let positive = metrics.positiveClass {
            var series = [SVGChart.Series(name: "\(evaluation.scope) images (10 bins)", color: "#9467bd", points: points(bins))]
            if let before = evaluation.calibration?.binsBefore {
                series[0].name = "\(evaluation.scope) images, calibrated (10 bins)"
                series.append(.init(name: "before calibration", color: "#ff7f0e", points: points(before), dashed: true))
            }
            series.append(.init(name: "perfectly calibrated", color: "#999", points: [(0, 0), (1, 1)], dashed: true))
            chart = SVGChart.lines(series, xLabel: "predicted probability of \(positive)", yLabel: "fraction that were \(positive)",
                                   yRange: 0...1, xRange: 0...1, width: 360, height: 340)
        }
        let fitted = evaluation.calibration.map { c in
            String(format: "The probabilities shown here, in predictions.csv, in predict, the Studio and the exports are calibrated: the ensemble's log-probabilities divided by a temperature of %.3f (fitted on the out-of-fold predictions, then softmax; above 1 softens overconfident probabilities). Before it the Brier score was %@.",
                   c.temperature, c.brierBefore.map { String(format: "%.3f", $0) } ?? "n/a")
        }
        return .init(brier: String(format: "%.3f", brier), chart: chart, fitted: fitted)
    }

    func exampleFigures() -> Page.Examples {
        guard !examples.isEmpty else { return .init(title: nil, items: []) }
        let mistakes = examples.contains { $0.label != $0.predicted }
        return .init(title: mistakes ? "Worst mistakes" : "Least certain (no mistakes)", items: examples.map { e in
            .init(png: e.png.base64EncodedString(), label: e.label, predicted: e.predicted,
                  confidence: String(format: "%.0f%%", e.confidence * 100), file: e.name)
        })
    }

    func dataSummary() -> Page.DataSummary {
        let grouping = dataset.hasGroups ? "Splits keep each patient's images together."
            : "The source has no patient ids: each image is its own group, so images of one patient may fall on both sides of the split."
        let parts = self.parts.map { part in
            Page.Part(name: part.name, counts: dataset.classes.map { c in part.images.filter { $0.label == c }.count },
                      patients: Set(part.images.map(\.group)).count)
        }
        // Reasons grouped by their text before the first quoted name.
        var reasons: [String: Int] = [:]
        for s in dataset.skipped {
            let key = s.reason.split(separator: "'").first.map(String.init) ?? s.reason
            reasons[key.trimmingCharacters(in: .whitespaces), default: 0] += 1
        }
        return .init(source: dataset.source, grouping: grouping, parts: parts,
                     balance: balanceNotes.isEmpty ? nil : balanceNotes.joined(separator: "; "), skipped: dataset.skipped.count,
                     reasons: reasons.sorted { $0.value > $1.value }.map { .init(reason: $0.key, count: $0.value) },
                     anySkipped: !dataset.skipped.isEmpty)
    }

    static func percent(_ v: Double?) -> String { v.map { String(format: "%.1f%%", $0 * 100) } ?? "n/a" }
}
