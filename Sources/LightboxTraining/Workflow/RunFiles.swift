import Foundation
import LightboxData

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

    enum Keys: String, CodingKey {
        case epochs, validation, split, skipped, seconds, evaluatedOn = "evaluated_on", disclaimer
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
        if epochs != nil { try c.encode("test split: patients never used for training or model selection", forKey: .evaluatedOn) }
        try c.encode(ModelBundle.disclaimer, forKey: .disclaimer)
    }

    public func json() throws -> Data {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.prettyPrinted, .sortedKeys]
        return try encoder.encode(self)
    }
}

/// CSV helpers for the run directory's tables (and the Studio's data set lists).
public enum CSVText {
    public static func field(_ s: String) -> String {
        s.contains(where: { $0 == "," || $0 == "\"" || $0 == "\n" || $0 == "\r" })
            ? "\"" + s.replacingOccurrences(of: "\"", with: "\"\"") + "\"" : s
    }

    public static func row(_ fields: [String]) -> String { fields.map(field).joined(separator: ",") + "\n" }
}

/// `predictions.csv`: path, group, true label, one probability column per class, prediction.
public enum Predictions {
    public static func csv(images: [LabeledImage], classes: [String], probabilities: [Float]) -> String {
        var out = CSVText.row(["path", "group", "label"] + classes.map { "p_\($0)" } + ["predicted"])
        let k = classes.count
        for (r, image) in images.enumerated() {
            let p = (0..<k).map { probabilities[r * k + $0] }
            let predicted = classes[p.indices.max { p[$0] < p[$1] }!]
            out += CSVText.row([image.path, image.group, image.label] + p.map { String(format: "%.6f", $0) } + [predicted])
        }
        return out
    }
}

/// `split.csv`: which part of the split each image went to.
enum SplitListing {
    static func csv(_ split: DatasetSplit) -> String {
        var out = CSVText.row(["path", "group", "label", "split"])
        for part in DatasetSplit.Part.allCases {
            for image in split[part] { out += CSVText.row([image.path, image.group, image.label, part.rawValue]) }
        }
        return out
    }
}

/// `skipped.csv`: every item left out, with the reason.
public enum SkippedListing {
    public static func csv(_ skipped: [SkippedItem]) -> String {
        skipped.reduce(CSVText.row(["item", "reason"])) { $0 + CSVText.row([$1.item, $1.reason]) }
    }
}
