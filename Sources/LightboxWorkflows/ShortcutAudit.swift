import Foundation
import LightboxCore
import LightboxData
import LightboxHead
import LightboxImaging
import LightboxInterop
import LightboxReport

/// The shortcut audit: a model scores the same images as they are, with the central box
/// (most of the lungs) blacked out, and with everything but that box blacked out. A model that
/// keeps its AUC with the lungs hidden is reading borders, text, devices or the look of the
/// hospital a picture came from, not the lungs. `lightbox audit` runs it on any data set,
/// `lightbox train` on the pictures it scored (out of fold, or its test split).
public struct ShortcutAudit: Encodable, Sendable {
    /// How the model did on one version of the images.
    public struct Condition: Encodable, Sendable {
        public var name: String
        public var description: String
        public var nImages: Int
        public var accuracy: Double
        public var auc: Double?

        enum CodingKeys: String, CodingKey { case name, description, nImages = "n_images", accuracy, auc }
    }

    public var positiveClass: String?
    public var nImages: Int
    public var nPatients: Int
    public var conditions: [Condition]
    /// What the numbers say, in plain words.
    public var verdict: String
    /// The model keeps much of its AUC with the lungs hidden: the verdict warns of a shortcut.
    public var shortcutSuspected: Bool
    /// The verdict in one word, for tables: `suspected`, `not_suspected`, `too_few_images` (the
    /// AUC with the lungs hidden is within chance's range for this many images), `weak_model`
    /// (the model barely separates whole pictures) or `no_auc`.
    public var outcome: Outcome

    public enum Outcome: String, Encodable, Sendable {
        case suspected, notSuspected = "not_suspected", tooFewImages = "too_few_images", weakModel = "weak_model", noAUC = "no_auc"
    }

    enum CodingKeys: String, CodingKey {
        case positiveClass = "positive_class", nImages = "n_images", nPatients = "n_patients", conditions, verdict
        case shortcutSuspected = "shortcut_suspected", outcome, box, disclaimer
    }

    public func encode(to encoder: Encoder) throws {
        var c = encoder.container(keyedBy: CodingKeys.self)
        try c.encodeIfPresent(positiveClass, forKey: .positiveClass)
        try c.encode(nImages, forKey: .nImages)
        try c.encode(nPatients, forKey: .nPatients)
        try c.encode(conditions, forKey: .conditions)
        try c.encode(verdict, forKey: .verdict)
        try c.encode(shortcutSuspected, forKey: .shortcutSuspected)
        try c.encode(outcome, forKey: .outcome)
        let box = InputBlanking.box
        try c.encode(["x": [box.x.from, box.x.to], "y": [box.y.from, box.y.to]], forKey: .box)
        try c.encode(ModelBundle.disclaimer, forKey: .disclaimer)
    }

    /// The audit as the report shows it.
    public var section: AuditSection {
        AuditSection(rows: conditions.map { .init(description: $0.description, auc: $0.auc, accuracy: $0.accuracy, images: $0.nImages) },
                     verdict: verdict, warning: shortcutSuspected)
    }

    /// The verdict as the headline (report.html's box, metrics.json, the Studio) carries it.
    public var headlineShortcut: Headline.Shortcut {
        Headline.Shortcut(outcome: outcome.rawValue, suspected: shortcutSuspected, verdict: verdict)
    }

    static func describe(_ blanking: InputBlanking) -> String {
        let box = InputBlanking.box
        let where_ = String(format: "x %.0f-%.0f%%, y %.0f-%.0f%% of the model's input", box.x.from * 100, box.x.to * 100,
                            box.y.from * 100, box.y.to * 100)
        switch blanking {
        case .none: return "the images as they are"
        case .centerBlanked: return "the central box (\(where_)), most of the lungs, blacked out"
        case .outsideBlanked: return "everything outside the central box (\(where_)) blacked out"
        }
    }

    /// Runs `predictor` on `images` under each blanking. `asIs`, when given, are the
    /// probabilities already computed for the images as they are (same order).
    public static func run(predictor: Predictor, images: [LabeledImage], positive: Int?, asIs: [Float]? = nil,
                           progress: (String) -> Void = { _ in }) throws -> ShortcutAudit {
        try run(scorers: [predictor], scorerOf: [Int](repeating: 0, count: images.count), images: images, positive: positive,
                asIs: asIs, progress: progress)
    }

    /// The audit with each image scored by its own model, `scorers[scorerOf[i]]` (a cross-fitted
    /// run's: the members that never saw the image's patient), every scorer with the same
    /// classes and decision rule.
    public static func run(scorers: [Predictor], scorerOf: [Int], images: [LabeledImage], positive: Int?, asIs: [Float]? = nil,
                           progress: (String) -> Void = { _ in }) throws -> ShortcutAudit {
        let classes = scorers[0].classes, k = classes.count, decision = scorers[0].decision
        var conditions: [Condition] = []
        for blanking in InputBlanking.allCases {
            var kept: [LabeledImage] = [], probabilities: [Float] = []
            if blanking == .none, let asIs {
                (kept, probabilities) = (images, asIs)
            } else {
                progress(describe(blanking))
                var rows = [[Float]?](repeating: nil, count: images.count)
                for (s, scorer) in scorers.enumerated() {
                    let mine = images.indices.filter { scorerOf[$0] == s }
                    for (i, result) in zip(mine, try scorer.predict(mine.map { images[$0].path }, blanking: blanking)) {
                        if case .success(let p) = result { rows[i] = p.probabilities }
                    }
                }
                for (image, row) in zip(images, rows) {
                    if let row {
                        kept.append(image)
                        probabilities += row
                    }
                }
            }
            let labels = kept.map { classes.firstIndex(of: $0.label)! }
            let predicted = decision.predicted(probabilities, columns: k)
            let correct = zip(labels, predicted).filter { $0 == $1 }.count
            let auc = positive.flatMap { p in
                ROC.auc(scores: (0..<kept.count).map { Double(probabilities[$0 * k + p]) }, positive: labels.map { $0 == p })
            }
            conditions.append(Condition(name: blanking.rawValue, description: describe(blanking), nImages: kept.count,
                                        accuracy: kept.isEmpty ? 0 : Double(correct) / Double(kept.count), auc: auc))
        }
        let positives = positive.map { p in images.filter { $0.label == classes[p] }.count } ?? 0
        let (verdict, outcome) = judge(conditions, positives: positives, negatives: images.count - positives)
        return ShortcutAudit(positiveClass: positive.map { classes[$0] }, nImages: images.count,
                             nPatients: Set(images.map(\.group)).count, conditions: conditions, verdict: verdict,
                             shortcutSuspected: outcome == .suspected, outcome: outcome)
    }

    /// The verdict in plain words and in one word: does the model still separate the classes
    /// with the lungs hidden, by more than chance explains for `positives` and `negatives` images?
    static func judge(_ conditions: [Condition], positives: Int, negatives: Int) -> (verdict: String, outcome: Outcome) {
        func condition(_ b: InputBlanking) -> Condition? { conditions.first { $0.name == b.rawValue } }
        guard let whole = condition(.none), let hidden = condition(.centerBlanked), let only = condition(.outsideBlanked) else {
            return ("", .noAUC)
        }
        guard let a = whole.auc, let h = hidden.auc else {
            return (String(format: "Accuracy %.1f%% on the images as they are, %.1f%% with the lungs hidden and %.1f%% with only the lungs' region visible. A model that keeps its accuracy with the lungs hidden is reading something other than the lungs.",
                           whole.accuracy * 100, hidden.accuracy * 100, only.accuracy * 100), .noAUC)
        }
        let onlyText = only.auc.map { String(format: " With only the lungs' region visible it scores AUC %.2f.", $0) } ?? ""
        if a < 0.6 {
            return (String(format: "The model barely separates the classes even on whole pictures (AUC %.2f), so the audit says little: AUC %.2f with the lungs hidden.", a, h) + onlyText, .weakModel)
        }
        // On a handful of test images an AUC far from 0.5 happens by chance: a distance counts
        // only beyond what chance reaches in 95 of 100 draws (1.96 standard errors of the AUC of
        // a model that guesses).
        let margin = 1.96 * Self.chanceStandardError(positives: positives, negatives: negatives)
        if abs(a - 0.5) <= margin {
            return (String(format: "On %d test images (%d of the positive class) even the whole pictures' AUC %.2f is within chance's reach (up to %.2f from 0.5): too few pictures for the audit to tell what the model reads (AUC %.2f with the lungs hidden).",
                           positives + negatives, positives, a, margin, h) + onlyText, .tooFewImages)
        }
        // An AUC far below 0.5 separates the classes as well as one far above it, the wrong way
        // round: what counts is the distance from chance.
        let separation = 0.5 + abs(h - 0.5)
        let kept = (separation - 0.5) / (a - 0.5)
        if separation >= 0.65 || kept >= 0.5 {
            if separation - 0.5 <= margin {
                return (String(format: "With the lungs hidden the model scores AUC %.2f (%.2f on whole pictures), but on %d test images (%d of the positive class) chance alone moves an AUC by up to %.2f from 0.5: too few pictures to tell whether it reads something other than the lungs.",
                               h, a, positives + negatives, positives, margin) + onlyText, .tooFewImages)
            }
            let inverted = h < 0.5 ? " (below 0.5: it still tells the classes apart, the wrong way round)" : ""
            return (String(format: "Warning: with the lungs hidden the model still scores AUC %.2f%@ (%.2f on whole pictures). It is reading something other than the lungs: borders, text and markers, devices, or the look of the hospital or machine a picture came from. Treat its results as a shortcut until other hospitals' patients show otherwise.", h, inverted, a) + onlyText, .suspected)
        }
        return (String(format: "With the lungs hidden the AUC falls to %.2f (from %.2f on whole pictures), near chance: the model's signal comes mostly from the lungs' region. That alone does not prove it reads disease: that region still carries the look of each hospital's pictures.", h, a) + onlyText, .notSuspected)
    }

    /// The standard error of the AUC of a model that guesses, on `positives` and `negatives`
    /// images: the Mann-Whitney statistic's under the null hypothesis, sqrt((n1 + n2 + 1) /
    /// (12 n1 n2)); infinite when either is empty.
    static func chanceStandardError(positives: Int, negatives: Int) -> Double {
        guard positives > 0, negatives > 0 else { return .infinity }
        let n1 = Double(positives), n2 = Double(negatives)
        return ((n1 + n2 + 1) / (12 * n1 * n2)).squareRoot()
    }
}
