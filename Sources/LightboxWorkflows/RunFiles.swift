import Foundation
import LightboxCore
import LightboxData
import LightboxHead
import LightboxInterop

/// Images and groups in one part of the split.
public struct SplitCounts: Codable, Sendable {
    public var images: Int
    public var patients: Int
}

/// `metrics.json`: the test-set metrics at the top level, the training history under
/// `epochs`, and facts about the run beside them.
public struct RunDocument: Encodable {
    public var metrics: ClassificationMetrics
    public var epochs: [EpochRecord]?
    public var validationLoss: Double?
    public var validationAccuracy: Double?
    public var split: [String: SplitCounts]?
    public var skipped: Int?
    public var seconds: Double?
    /// How the model was trained (training runs only): `head` or `finetune`, the ensemble's
    /// size and the modules trained (finetune), training images per epoch, epochs run.
    public var method: String?
    public var ensemble: Int?
    public var unfreeze: Int?
    public var trainImages: Int?
    public var epochsRun: Int?
    /// Seconds per stage of a training run (load, prepare, train, evaluate, report).
    public var timings: [String: Double]?
    /// The shortcut audit of the scored pictures (training runs).
    public var audit: ShortcutAudit?
    /// The design (training runs): K folds (1: one split), what the metrics rest on
    /// ("out-of-fold" or "held-out test"), each fold's own AUC (one split: the test split's),
    /// why there is no operating point, and cross-fitting's held-out test set.
    public var folds: Int?
    public var evaluation: String?
    public var foldAUC: [Double?]?
    public var operatingPointNote: String?
    public var heldOutTest: ClassificationMetrics?
    /// Cross-fitting's temperature scaling, fitted on the out-of-fold predictions: the figures
    /// above are after it; the Brier score and reliability bins before it are kept here.
    public var calibration: Calibration?
    /// The figures with their intervals, the baseline, the chance line and the shortcut verdict,
    /// worded once: report.html's box and the Studio's run page show this object.
    public var headline: Headline?
    /// Whether the pictures' groups are patient ids (false: each picture is its own patient).
    public var patientIDs: Bool?
    /// What the networks computed in: `precision` "bf16" or "fp32", and for bf16 whether the
    /// CPU's AVX-512 BF16 kernels ("native") or their fp32 emulation ("emulated") ran.
    public var arithmetic: Arithmetic?
    /// What the pictures were cut to before the resize (training runs): "none" or "lungs".
    public var crop: String?
    /// A lungs-only run: the whole-picture run of the same design found beside it (its folder's
    /// name, AUC and interval), for the report's comparison.
    public var cropComparison: CropComparison?

    public struct CropComparison: Codable, Sendable, Equatable {
        public var run: String
        public var auc: Double
        public var aucCI: [Double]?
        enum CodingKeys: String, CodingKey { case run, auc, aucCI = "auc_ci" }
        public init(run: String, auc: Double, aucCI: [Double]?) {
            self.run = run
            self.auc = auc
            self.aucCI = aucCI
        }
    }

    public struct Calibration: Encodable {
        public var method = "temperature"
        public var temperature: Double
        public var brierBefore: Double?, brierAfter: Double?
        public var binsBefore: [CalibrationBin]?

        enum CodingKeys: String, CodingKey {
            case method, temperature, brierBefore = "brier_before", brierAfter = "brier_after", binsBefore = "calibration_before"
        }
    }

    enum Keys: String, CodingKey {
        case epochs, validation, split, skipped, seconds, evaluatedOn = "evaluated_on", disclaimer
        case method, ensemble, unfreeze, trainImages = "n_train_images", epochsRun = "epochs_run", timings, audit
        case folds, evaluation, foldAUC = "fold_auc", operatingPointNote = "operating_point_note", heldOutTest = "held_out_test"
        case calibration = "model_calibration", headline, patientIDs = "patient_ids"
        case precision, precisionKernels = "precision_kernels", crop, cropComparison = "crop_comparison"
    }

    public func encode(to encoder: Encoder) throws {
        try metrics.encode(to: encoder)
        var c = encoder.container(keyedBy: Keys.self)
        try c.encodeIfPresent(epochs, forKey: .epochs)
        if let validationLoss, let validationAccuracy {
            try c.encode(["loss": validationLoss, "accuracy": validationAccuracy], forKey: .validation)
        }
        try c.encodeIfPresent(split, forKey: .split)
        try c.encodeIfPresent(skipped, forKey: .skipped)
        try c.encodeIfPresent(seconds, forKey: .seconds)
        try c.encodeIfPresent(method, forKey: .method)
        try c.encodeIfPresent(ensemble, forKey: .ensemble)
        try c.encodeIfPresent(unfreeze, forKey: .unfreeze)
        try c.encodeIfPresent(trainImages, forKey: .trainImages)
        try c.encodeIfPresent(epochsRun, forKey: .epochsRun)
        try c.encodeIfPresent(timings, forKey: .timings)
        try c.encodeIfPresent(audit, forKey: .audit)
        try c.encodeIfPresent(folds, forKey: .folds)
        try c.encodeIfPresent(evaluation, forKey: .evaluation)
        if let foldAUC { try c.encode(foldAUC, forKey: .foldAUC) }
        try c.encodeIfPresent(operatingPointNote, forKey: .operatingPointNote)
        try c.encodeIfPresent(heldOutTest, forKey: .heldOutTest)
        try c.encodeIfPresent(calibration, forKey: .calibration)
        try c.encodeIfPresent(headline, forKey: .headline)
        try c.encodeIfPresent(patientIDs, forKey: .patientIDs)
        if let arithmetic {
            try c.encode(arithmetic.precision.rawValue, forKey: .precision)
            if arithmetic.isBF16 { try c.encode(arithmetic.kernels.rawValue, forKey: .precisionKernels) }
        }
        try c.encodeIfPresent(crop, forKey: .crop)
        try c.encodeIfPresent(cropComparison, forKey: .cropComparison)
        if epochs != nil {
            try c.encode(evaluation == "out-of-fold"
                ? "out of fold: every picture scored by members that never saw its patient (each a single fold's model; the shipped ensemble averages them)"
                : "test split: patients never used for training or model selection", forKey: .evaluatedOn)
        }
        try c.encode(ModelBundle.disclaimer, forKey: .disclaimer)
    }

    public func json() throws -> Data {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.prettyPrinted, .sortedKeys]
        return try encoder.encode(self)
    }
}

/// CSV text. Two writers: `row` keeps every value as it is, for files programs read back (the
/// Studio's data set lists); `spreadsheetRow` is for files people open in spreadsheets
/// (`predictions.csv`, `split.csv`, `skipped.csv`), where a cell beginning with `=`, `+`, `-`,
/// `@`, tab or carriage return would run as a formula: such a cell gets a single quote in
/// front (OWASP's rule against CSV injection).
public enum CSVText {
    /// `s` as one CSV field: quoted (quotes doubled) when it holds a comma, quote or line break.
    /// Scalars, not Characters: "\r\n" is one Character, equal to neither "\r" nor "\n".
    public static func field(_ s: String) -> String {
        s.unicodeScalars.contains(where: { $0 == "," || $0 == "\"" || $0 == "\n" || $0 == "\r" })
            ? "\"" + s.replacingOccurrences(of: "\"", with: "\"\"") + "\"" : s
    }

    /// A faithful CSV line: every value reads back exactly as given.
    public static func row(_ fields: [String]) -> String { fields.map(field).joined(separator: ",") + "\n" }

    /// The value a spreadsheet-safe cell holds (before CSV quoting): `s`, with a single quote
    /// in front when it begins with a character spreadsheets treat as the start of a formula.
    public static func spreadsheetField(_ s: String) -> String {
        guard let first = s.unicodeScalars.first, formulaStarts.contains(first) else { return s }
        return "'" + s
    }

    /// A CSV line for people's spreadsheets: each value through `spreadsheetField`, then quoted
    /// as `row` does.
    public static func spreadsheetRow(_ fields: [String]) -> String {
        fields.map { field(spreadsheetField($0)) }.joined(separator: ",") + "\n"
    }

    static let formulaStarts: Set<Unicode.Scalar> = ["=", "+", "-", "@", "\t", "\r"]
}

/// `predictions.csv`: the picture (its path, UID or digest as `names` names it, in a column named
/// after the identity), group, true label, one probability column per class, prediction (by the
/// model's decision rule), and with `folds` (cross-fitting) the fold whose members scored the picture.
public enum Predictions {
    public static func csv(images: [LabeledImage], names: PictureNames, classes: [String], probabilities: [Float], decision: DecisionRule,
                           folds: [Int]? = nil) -> String {
        var out = CSVText.spreadsheetRow([names.identity.rawValue, "group", "label"] + classes.map { "p_\($0)" } + ["predicted"]
                                         + (folds == nil ? [] : ["fold"]))
        let k = classes.count
        for (r, image) in images.enumerated() {
            let p = (0..<k).map { probabilities[r * k + $0] }
            let predicted = classes[decision.predicted(p)]
            out += CSVText.spreadsheetRow([names.name(image.path), names.group(image), image.label] + p.map { String(format: "%.6f", $0) } + [predicted]
                                          + (folds.map { ["\($0[r] + 1)"] } ?? []))
        }
        return out
    }
}

/// `split.csv`: which part (train, validation, test; or fold 1 ... fold K, test) each image went
/// to, the image as `names` names it.
enum SplitListing {
    static func csv(_ parts: [(name: String, images: [LabeledImage])], names: PictureNames) -> String {
        var out = CSVText.spreadsheetRow([names.identity.rawValue, "group", "label", "split"])
        for part in parts {
            for image in part.images {
                out += CSVText.spreadsheetRow([names.name(image.path), names.group(image), image.label, part.name])
            }
        }
        return out
    }
}

/// `skipped.csv`: every item left out (a picture as `names` names it), with the reason.
public enum SkippedListing {
    public static func csv(_ skipped: [SkippedItem], names: PictureNames) -> String {
        skipped.reduce(CSVText.spreadsheetRow(["item", "reason"])) { $0 + CSVText.spreadsheetRow([names.item($1.item), $1.reason]) }
    }
}

/// Seconds spent in each stage of a run, for metrics.json's `timings`.
final class StageTimings {
    private var last = Date()
    private(set) var seconds: [String: Double] = [:]

    /// Charges the time since the previous lap (or the start) to `stage`.
    func lap(_ stage: String) {
        let now = Date()
        seconds[stage, default: 0] += now.timeIntervalSince(last)
        last = now
    }
}
