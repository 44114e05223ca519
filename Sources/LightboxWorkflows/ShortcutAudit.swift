import Foundation
import LightboxCore
import LightboxData
import LightboxHead
import LightboxImaging
import LightboxInterop
import LightboxModels
import LightboxReport

/// Which box the shortcut audit blanks: each picture's own lungs as the lung locator finds
/// them (plus `LungBox.margin`), or the fixed central box of the input square the audit used
/// before the lungs were located (kept for comparison).
public enum AuditBox: String, CaseIterable, Sendable, Codable {
    case lungs, central
}

/// The shortcut audit: a model scores the same images as they are, with each picture's lungs
/// (the box the lung locator finds, plus a margin; or, with `--box central`, a fixed central box)
/// blacked out, and with everything but that box blacked out. A model that keeps its AUC with
/// the lungs hidden is reading borders, text, devices or the look of the hospital a picture came
/// from, not the lungs. With the lungs located it also measures how much of each picture's
/// Grad-CAM heatmap falls inside its lung box. `lightbox audit` runs it on any data set,
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

    /// The box blanked (`box` in audit.json).
    public var box: BoxUsed = .central
    /// With the lungs located: each scored picture's lung box and heatmap mass inside it.
    public var pictures: [Picture]?
    /// With the lungs located: the mean heatmap mass inside the lung boxes, with its baseline.
    public var heatmapMass: HeatmapMassSummary?
    /// With the lungs located: each picture's lung box in the model's input square (fractions),
    /// by path, for the heatmaps that draw it (not written to audit.json).
    public var squareBoxes: [String: LungBox] = [:]

    /// What the audit blanked: `kind` lungs (each picture's predicted box plus `margin`, from
    /// `locator`) or central (the fixed box `x`, `y` of the input square, as audit.json always held it).
    public struct BoxUsed: Encodable, Sendable, Equatable {
        public var kind: AuditBox
        public var margin: Double?
        public var locator: String?
        public var description: String

        public static let central = BoxUsed(kind: .central, margin: nil, locator: nil,
                                            description: "the central box \(ShortcutAudit.centralText), the same for every picture")

        public static func lungs(locator: String) -> BoxUsed {
            BoxUsed(kind: .lungs, margin: LungBox.margin, locator: locator,
                    description: String(format: "each picture's own lungs: the box the lung locator (%@) predicts, plus a %.0f%% margin on every side",
                                        locator, LungBox.margin * 100))
        }

        enum CodingKeys: String, CodingKey { case kind, margin, locator, description, x, y }

        public func encode(to encoder: Encoder) throws {
            var c = encoder.container(keyedBy: CodingKeys.self)
            try c.encode(kind, forKey: .kind)
            try c.encodeIfPresent(margin, forKey: .margin)
            try c.encodeIfPresent(locator, forKey: .locator)
            try c.encode(description, forKey: .description)
            if kind == .central {
                let box = InputBlanking.box
                try c.encode([box.x.from, box.x.to], forKey: .x)
                try c.encode([box.y.from, box.y.to], forKey: .y)
            }
        }
    }

    /// One scored picture with its lungs located.
    public struct Picture: Encodable, Sendable {
        /// The run's name for the picture (its path unless the run names pictures otherwise).
        public var picture: String
        /// The predicted lung box (no margin), `[x0, y0, x1, y1]` in the picture's own pixels.
        public var lungsBox: [Double]
        /// The share of the picture's Grad-CAM heatmap (of the class predicted, by the members
        /// that scored it) inside the lung box placed in the model's input square; nil when the
        /// heatmap is zero everywhere.
        public var heatmapMassInLungs: Double?
        /// The share of the model's input square the lung box covers: what a heatmap spread evenly would put inside it.
        public var boxShareOfInput: Double

        enum CodingKeys: String, CodingKey {
            case picture, lungsBox = "lungs_box", heatmapMassInLungs = "heatmap_mass_in_lungs", boxShareOfInput = "box_share_of_input"
        }
    }

    /// The mean heatmap mass inside the lung boxes over the pictures with a heatmap, and its
    /// baseline: the mean share of the input square the boxes cover.
    public struct HeatmapMassSummary: Encodable, Sendable {
        public var nImages: Int
        public var mean: Double
        /// 95% interval of the mean, resampling patients (nil with fewer than 2 patients).
        public var interval: [Double]?
        public var baseline: Double
        public var text: String

        enum CodingKeys: String, CodingKey { case nImages = "n_images", mean, interval, baseline, text }
    }

    public enum Outcome: String, Encodable, Sendable {
        case suspected, notSuspected = "not_suspected", tooFewImages = "too_few_images", weakModel = "weak_model", noAUC = "no_auc"
    }

    enum CodingKeys: String, CodingKey {
        case positiveClass = "positive_class", nImages = "n_images", nPatients = "n_patients", conditions, verdict
        case shortcutSuspected = "shortcut_suspected", outcome, box, disclaimer, pictures
        case heatmapMass = "heatmap_mass_in_lungs"
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
        try c.encode(box, forKey: .box)
        try c.encodeIfPresent(pictures, forKey: .pictures)
        try c.encodeIfPresent(heatmapMass, forKey: .heatmapMass)
        try c.encode(ModelBundle.disclaimer, forKey: .disclaimer)
    }

    /// The audit as the report shows it.
    public var section: AuditSection {
        var section = AuditSection(rows: conditions.map { .init(description: $0.description, auc: $0.auc, accuracy: $0.accuracy, images: $0.nImages) },
                                   verdict: verdict, warning: shortcutSuspected)
        section.box = box.kind == .lungs
            ? String(format: "The box blanked is each picture's own lungs: the box the lung locator (%@) predicts, plus a %.0f%% margin on every side.",
                     box.locator ?? "shipped", (box.margin ?? LungBox.margin) * 100)
            : "The box blanked is the fixed central box \(Self.centralText), the same for every picture; it covers most of the lungs when they sit in the middle."
        section.heatmapMass = heatmapMass?.text
        return section
    }

    /// The verdict as the headline (report.html's box, metrics.json, the Studio) carries it.
    public var headlineShortcut: Headline.Shortcut {
        Headline.Shortcut(outcome: outcome.rawValue, suspected: shortcutSuspected, verdict: verdict)
    }

    /// The central box in words: "(x 15-85%, y 10-90% of the model's input)".
    static var centralText: String {
        let box = InputBlanking.box
        return String(format: "(x %.0f-%.0f%%, y %.0f-%.0f%% of the model's input)", box.x.from * 100, box.x.to * 100,
                      box.y.from * 100, box.y.to * 100)
    }

    static func describe(_ blanking: InputBlanking, box: AuditBox = .central) -> String {
        let margin = String(format: "%.0f%%", LungBox.margin * 100)
        switch (blanking, box) {
        case (.none, _): return "the images as they are"
        case (.centerBlanked, .central): return "the central box \(centralText), most of the lungs, blacked out"
        case (.outsideBlanked, .central): return "everything outside the central box \(centralText) blacked out"
        case (.centerBlanked, .lungs): return "each picture's predicted lungs (box + \(margin) margin) blacked out"
        case (.outsideBlanked, .lungs): return "everything outside each picture's predicted lungs (box + \(margin) margin) blacked out"
        }
    }

    /// Each picture's lungs, located once for the audit: the lung finder and what audit.json
    /// calls its locator (`shipped`, or the file a user fitted).
    public struct Lungs: Sendable {
        public var finder: LungFinder
        public var locatorName: String
        public init(finder: LungFinder, locatorName: String) {
            self.finder = finder
            self.locatorName = locatorName
        }
    }

    /// What "lungs hidden" and "lungs only" blank in each located picture: its predicted box
    /// plus `LungBox.margin` (fractions of the picture, by path; the embedder places it in the input square).
    static func blankingBoxes(_ located: [LungFinder.Located]) -> [String: LungBox] {
        Dictionary(located.map { ($0.path, $0.box.expanded(by: LungBox.margin)) }, uniquingKeysWith: { a, _ in a })
    }

    /// The lungs to locate for `box` (nil for the central box): the pretrained MobileNetV2 of
    /// `settings` with `locator` (nil: the shipped one), decoding as the audited model does.
    public static func lungs(_ box: AuditBox, locator: LungLocator?, name: String, settings: LightboxSettings,
                             dicomWindow: DICOMWindow) throws -> Lungs? {
        guard box == .lungs else { return nil }
        return Lungs(finder: try LungFinder.pretrained(settings: settings, dicomWindow: dicomWindow, locator: locator), locatorName: name)
    }

    /// Runs `predictor` on `images` under each blanking. `asIs`, when given, are the
    /// probabilities already computed for the images as they are (same order).
    public static func run(predictor: Predictor, images: [LabeledImage], positive: Int?, asIs: [Float]? = nil,
                           lungs: Lungs? = nil, names: PictureNames = .paths,
                           progress: (String) -> Void = { _ in }) throws -> ShortcutAudit {
        try run(scorers: [predictor], scorerOf: [Int](repeating: 0, count: images.count), images: images, positive: positive,
                asIs: asIs, lungs: lungs, names: names, progress: progress)
    }

    /// The audit with each image scored by its own model, `scorers[scorerOf[i]]` (a cross-fitted
    /// run's: the members that never saw the image's patient), every scorer with the same
    /// classes and decision rule. `lungs`: blank each picture's located lungs (plus
    /// `LungBox.margin`) and measure its heatmap's mass inside them; nil: the central box.
    public static func run(scorers: [Predictor], scorerOf: [Int], images: [LabeledImage], positive: Int?, asIs: [Float]? = nil,
                           lungs: Lungs? = nil, names: PictureNames = .paths,
                           progress: (String) -> Void = { _ in }) throws -> ShortcutAudit {
        let classes = scorers[0].classes, k = classes.count, decision = scorers[0].decision
        let kind: AuditBox = lungs == nil ? .central : .lungs
        // Each picture's lungs, located once (one pass of the locator's backbone a picture); a
        // picture the locator cannot decode is left out of the blanked conditions.
        var located: [String: LungFinder.Located] = [:]
        if let lungs {
            for result in try lungs.finder.locate(paths: images.map(\.path)) {
                if case .success(let l) = result { located[l.path] = l }
            }
        }
        let blankingBoxes = Self.blankingBoxes(Array(located.values))
        var conditions: [Condition] = []
        for blanking in InputBlanking.allCases {
            var kept: [LabeledImage] = [], probabilities: [Float] = []
            if blanking == .none, let asIs {
                (kept, probabilities) = (images, asIs)
            } else {
                progress(describe(blanking, box: kind))
                var rows = [[Float]?](repeating: nil, count: images.count)
                for (s, scorer) in scorers.enumerated() {
                    let mine = images.indices.filter { scorerOf[$0] == s && (lungs == nil || located[images[$0].path] != nil) }
                    for (i, result) in zip(mine, try scorer.predict(mine.map { images[$0].path }, blanking: blanking,
                                                                     blankingBoxes: blankingBoxes)) {
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
            conditions.append(Condition(name: blanking.rawValue, description: describe(blanking, box: kind), nImages: kept.count,
                                        accuracy: kept.isEmpty ? 0 : Double(correct) / Double(kept.count), auc: auc))
        }
        let positives = positive.map { p in images.filter { $0.label == classes[p] }.count } ?? 0
        let (verdict, outcome) = judge(conditions, positives: positives, negatives: images.count - positives)
        var audit = ShortcutAudit(positiveClass: positive.map { classes[$0] }, nImages: images.count,
                                  nPatients: Set(images.map(\.group)).count, conditions: conditions, verdict: verdict,
                                  shortcutSuspected: outcome == .suspected, outcome: outcome)
        if let lungs {
            audit.box = .lungs(locator: lungs.locatorName)
            // The heatmap of each located picture, by the members that scored it.
            var cams: [String: (cam: [Float], side: Int)] = [:]
            for (s, scorer) in scorers.enumerated() {
                let mine = images.indices.filter { scorerOf[$0] == s && located[images[$0].path] != nil }.map { images[$0].path }
                cams.merge(try scorer.model.gradCAMs(paths: mine, decision: scorer.decision)) { a, _ in a }
            }
            let preprocessor = scorers[0].preprocessor
            var pictures: [Picture] = [], groups: [String] = []
            for image in images {
                guard let l = located[image.path] else { continue }
                // The heatmap covers the model's input: for a cropped model, the crop, not the whole picture.
                let square = LungCrop.inInputSquare(l.box, width: l.width, height: l.height, preprocessor: preprocessor,
                                                    crop: scorers[0].model.crop)
                audit.squareBoxes[image.path] = square
                let mass = cams[image.path].flatMap { HeatmapMass.share(cam: $0.cam, side: $0.side, box: square) }
                pictures.append(Picture(picture: names.name(image.path), lungsBox: l.box.pixels(width: l.width, height: l.height),
                                        heatmapMassInLungs: mass, boxShareOfInput: square.area))
                groups.append(image.group)
            }
            audit.pictures = pictures
            audit.heatmapMass = HeatmapMass.summary(pictures, groups: groups)
        }
        return audit
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
