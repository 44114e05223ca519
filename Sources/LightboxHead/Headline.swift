import Foundation

/// The figures a run is judged by, with what they must be read against, worded once: the box at
/// the top of report.html, metrics.json's `headline` and the Studio's run page all show this
/// object, so they cannot disagree. Every figure carries its 95% interval (or says why it has
/// none); the accuracy sits beside the accuracy of always answering the largest class; the notes
/// say when the AUC is no better than chance, how wide the intervals are, and the shortcut
/// audit's verdict.
public struct Headline: Codable, Sendable, Equatable {
    /// One headline number.
    public struct Figure: Codable, Sendable, Equatable {
        /// `accuracy`, `auc`, `sensitivity` or `specificity`.
        public var key: String
        /// What the report and the Studio call it ("Sensitivity (COVID-19)").
        public var name: String
        public var value: Double?
        /// The value as shown ("78.1%", "0.562").
        public var text: String
        /// The 95% interval, nil with `noInterval` saying why.
        public var interval: [Double]?
        /// The interval as shown ("95% CI 70.3–86.0%").
        public var intervalText: String?
        /// How the interval was computed ("patient bootstrap", or a Wilson score interval on pictures).
        public var method: String?
        /// Why there is no interval.
        public var noInterval: String?

        enum CodingKeys: String, CodingKey {
            case key, name, value, text, interval, intervalText = "interval_text", method, noInterval = "no_interval"
        }
    }

    /// The accuracy of always answering the scored pictures' largest class.
    public struct Baseline: Codable, Sendable, Equatable {
        public var className: String
        public var accuracy: Double
        public var text: String

        enum CodingKeys: String, CodingKey { case className = "class", accuracy, text }
    }

    /// A sentence the figures must be read with; `warning` ones are shown as warnings.
    public struct Note: Codable, Sendable, Equatable {
        /// `baseline`, `chance`, `uncertainty`, `few_patients` or `no_patient_ids`.
        public var kind: String
        public var warning: Bool
        public var text: String
    }

    /// The shortcut audit's verdict, as the audit worded it.
    public struct Shortcut: Codable, Sendable, Equatable {
        /// The audit's one-word outcome (`suspected`, `not_suspected`, ...), when known.
        public var outcome: String?
        public var suspected: Bool
        public var verdict: String

        public init(outcome: String?, suspected: Bool, verdict: String) {
            self.outcome = outcome
            self.suspected = suspected
            self.verdict = verdict
        }
    }

    /// What the figures rest on ("test images", "out-of-fold images").
    public var scope: String
    /// One line: the figures with their intervals, and the pictures and patients behind them.
    public var summary: String
    public var figures: [Figure]
    public var baseline: Baseline?
    public var notes: [Note]
    public var shortcut: Shortcut?

    /// Below this many patients in a class no headline figure gets an interval: a bootstrap of a
    /// handful of patients mostly redraws the same few and understates the uncertainty.
    public static let fewestPatientsPerClass = ROC.fewestPatientsForInterval

    /// - Parameters:
    ///   - scope: what the figures rest on, as a noun for pictures ("test", "out-of-fold").
    ///   - shortcut: the shortcut audit's verdict on the same pictures, if it ran.
    ///   - patientIDs: whether the pictures' groups are patient ids (a source with one picture per
    ///     patient has as many patients as pictures, and still has them); nil when not recorded
    ///     (older runs): then as many patients as pictures is taken to mean none.
    public init(metrics m: ClassificationMetrics, scope: String, shortcut: Shortcut?, patientIDs: Bool? = nil) {
        self.scope = scope
        self.shortcut = shortcut
        let pictures = "\(m.nImages) \(scope) images"
        let withoutIDs = patientIDs.map { !$0 } ?? (m.nPatients == m.nImages)
        // Where every image is its own patient, a patient count says nothing more.
        let behind = withoutIDs ? pictures : "\(pictures) of \(m.nPatients) patients"

        // Too few patients in a class: no interval at all, and the reason.
        let patients = m.patientsPerClass
        var reason: String?
        if let patients {
            let few = m.classes.filter { (patients[$0] ?? 0) < Self.fewestPatientsPerClass }
            if !few.isEmpty {
                let counts = few.map { "\(patients[$0] ?? 0) of \($0)" }.joined(separator: ", ")
                reason = "no interval: only \(counts) among the patients (fewer than \(Self.fewestPatientsPerClass) patients in a class), and an interval from so few would understate how uncertain the figures are"
            }
        } else {
            reason = "no interval: this run did not record how many patients each class has"
        }

        let rows = m.confusion.map { $0.reduce(0, +) }
        let total = rows.reduce(0, +)
        func wilson(_ hits: Int, _ n: Int) -> [Double]? { n == 0 ? nil : Self.wilson(successes: hits, trials: n) }
        let wilsonMethod = "Wilson score interval on pictures (no patient bootstrap was recorded; it treats pictures as independent)"

        var figures: [Figure] = []
        func add(_ key: String, _ name: String, _ value: Double?, auc: Bool, bootstrap: [Double]?, fallback: [Double]?) {
            let text = value.map { auc ? String(format: "%.3f", $0) : Self.percent($0) } ?? "n/a"
            var f = Figure(key: key, name: name, value: value, text: text)
            if value == nil {
                f.noInterval = "no value: the \(scope) images lack a class it needs"
            } else if let reason {
                f.noInterval = reason
            } else if let ci = bootstrap, ci[1] > ci[0] {
                (f.interval, f.method) = (ci, "patient bootstrap (whole patients resampled)")
            } else if let ci = fallback {
                // A bootstrap of a rate every picture got right (or wrong) has no width: Wilson's does.
                (f.interval, f.method) = (ci, bootstrap == nil ? wilsonMethod
                    : "Wilson score interval on pictures (the patient bootstrap gives no width when every picture is called right, or every one wrong)")
            } else {
                f.noInterval = bootstrap == nil ? "no interval: the patient bootstrap could not compute one"
                    : "no interval: the patient bootstrap gave one of no width, which would understate the uncertainty"
            }
            f.intervalText = f.interval.map { "95% CI " + (auc ? String(format: "%.3f–%.3f", $0[0], $0[1]) : Self.range($0)) }
            figures.append(f)
        }
        let correct = (0..<m.classes.count).map { m.confusion[$0][$0] }.reduce(0, +)
        add("accuracy", "Accuracy", total == 0 ? nil : m.accuracy, auc: false, bootstrap: m.accuracyCI, fallback: wilson(correct, total))
        if let p = m.positiveClass.flatMap({ m.classes.firstIndex(of: $0) }), m.classes.count == 2 {
            let n = 1 - p
            add("auc", "ROC AUC", m.auc, auc: true, bootstrap: m.aucCI, fallback: nil)
            add("sensitivity", "Sensitivity (\(m.classes[p]))", m.sensitivity, auc: false, bootstrap: m.sensitivityCI,
                fallback: wilson(m.confusion[p][p], rows[p]))
            add("specificity", "Specificity", m.specificity, auc: false, bootstrap: m.specificityCI,
                fallback: wilson(m.confusion[n][n], rows[n]))
        }
        self.figures = figures

        var notes: [Note] = []
        var baseline: Baseline?
        if let largest = rows.max(), total > 0 {
            let k = rows.firstIndex(of: largest)!
            let b = Double(largest) / Double(total)
            baseline = Baseline(className: m.classes[k], accuracy: b,
                                text: "Always answering \(m.classes[k]) scores \(Self.percent(b)) (\(largest) of \(pictures)): the baseline the accuracy must beat.")
            if m.accuracy <= b + 1e-12 {
                notes.append(Note(kind: "baseline", warning: true,
                                  text: "The accuracy (\(Self.percent(m.accuracy))) is "
                                    + (m.accuracy < b - 1e-12 ? "below what always answering \(m.classes[k]) scores" : "no better than always answering \(m.classes[k])")
                                    + " (\(Self.percent(b)))."))
            } else if let ci = figures.first(where: { $0.key == "accuracy" })?.interval, ci[0] <= b {
                notes.append(Note(kind: "baseline", warning: true,
                                  text: "The 95% interval of the accuracy (\(Self.range(ci))) reaches down to always answering \(m.classes[k]) (\(Self.percent(b))): these patients do not show that the model beats it."))
            }
        }
        if let auc = figures.first(where: { $0.key == "auc" }), auc.value != nil {
            if let ci = auc.interval {
                if ci[0] <= 0.5 && 0.5 <= ci[1] {
                    notes.append(Note(kind: "chance", warning: true,
                                      text: String(format: "No better than chance: the 95%% interval of the AUC (%.3f–%.3f) contains 0.5.", ci[0], ci[1])))
                }
            } else {
                notes.append(Note(kind: "chance", warning: true,
                                  text: "Whether the model does better than chance is unknown: the AUC has no interval."))
            }
        }
        let spans = figures.filter { $0.interval != nil }
        if !spans.isEmpty {
            let parts = spans.map { f -> String in
                let ci = f.interval!
                let what = f.key == "auc" ? "the AUC" : f.key
                return f.key == "auc"
                    ? String(format: "%@ from %.3f to %.3f (%.3f wide)", what, ci[0], ci[1], ci[1] - ci[0])
                    : "\(what) from \(Self.percent(ci[0])) to \(Self.percent(ci[1])) (\(Self.points(ci[1] - ci[0])) points wide)"
            }
            let widest = spans.filter { $0.key != "auc" }.map { $0.interval![1] - $0.interval![0] }.max() ?? 0
            notes.append(Note(kind: "uncertainty", warning: widest >= 0.2,
                              text: "On \(behind) the true figures could be anywhere in their 95% intervals: "
                                + parts.joined(separator: ", ") + "."))
        } else if reason != nil, total > 0 {
            notes.append(Note(kind: "few_patients", warning: true,
                              text: "No figure has an interval (\(reason!.replacingOccurrences(of: "no interval: ", with: ""))). On \(behind) these figures could change completely with a few more patients: they show that the pipeline runs, not how good the model is."))
        }
        if m.nImages > 0 && withoutIDs {
            notes.append(Note(kind: "no_patient_ids", warning: false,
                              text: "Each image counts as its own patient (the images carry no patient ids): pictures of one person may sit "
                                + (scope == "out-of-fold" ? "in two folds (one fold's model may have seen the person it scores)" : "on both sides of the split")
                                + " and flatter the result, and the intervals may be narrower than they should be."))
        }
        self.notes = notes
        self.baseline = baseline

        summary = figures.map { f in
            "\(f.key == "auc" ? "AUC" : f.key) \(f.text)" + (f.intervalText.map { " (\($0))" } ?? " (no interval)")
        }.joined(separator: ", ") + " on \(behind)"
            + (baseline.map { "; always answering \($0.className): \(Self.percent($0.accuracy))" } ?? "")
    }

    /// The 95% Wilson score interval of `successes` out of `trials`.
    public static func wilson(successes: Int, trials: Int, z: Double = 1.959964) -> [Double] {
        let n = Double(trials), p = Double(successes) / n, z2 = z * z
        let centre = (p + z2 / (2 * n)) / (1 + z2 / n)
        let half = z / (1 + z2 / n) * (p * (1 - p) / n + z2 / (4 * n * n)).squareRoot()
        // All or none: the bound on that side is exactly 1 (or 0), whatever rounding says.
        return [successes == 0 ? 0 : max(0, centre - half), successes == trials ? 1 : min(1, centre + half)]
    }

    static func percent(_ v: Double) -> String { String(format: "%.1f%%", v * 100) }
    static func points(_ v: Double) -> String { String(format: "%.0f", v * 100) }
    static func range(_ ci: [Double]) -> String { String(format: "%.1f–%.1f%%", ci[0] * 100, ci[1] * 100) }
}

extension Headline.Figure {
    init(key: String, name: String, value: Double?, text: String) {
        self.init(key: key, name: name, value: value, text: text, interval: nil, intervalText: nil, method: nil, noInterval: nil)
    }
}
