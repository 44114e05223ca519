import Foundation
import LightboxCore

/// The decision rule of a two-class model: the positive class is predicted when its
/// probability reaches `threshold`. Chosen on the validation split so that at least
/// `targetSensitivity` of its positive images are caught, with the highest threshold that does
/// (the best specificity on that split at that sensitivity). Without one a model predicts the
/// most probable class (argmax).
public struct OperatingPoint: Codable, Sendable, Equatable {
    public var positiveClass: String
    public var threshold: Double
    public var targetSensitivity: Double
    /// Sensitivity and specificity on the validation split where the threshold was chosen.
    public var validationSensitivity: Double
    public var validationSpecificity: Double?

    enum CodingKeys: String, CodingKey {
        case positiveClass = "positive_class", threshold, targetSensitivity = "target_sensitivity"
        case validationSensitivity = "validation_sensitivity", validationSpecificity = "validation_specificity"
    }

    public init(positiveClass: String, threshold: Double, targetSensitivity: Double, validationSensitivity: Double,
                validationSpecificity: Double?) {
        self.positiveClass = positiveClass
        self.threshold = threshold
        self.targetSensitivity = targetSensitivity
        self.validationSensitivity = validationSensitivity
        self.validationSpecificity = validationSpecificity
    }

    /// The threshold on `positive`'s probability (rows of `probabilities`, `[n, 2]`) that reaches
    /// `targetSensitivity` on these labels; nil without a positive image among them.
    public static func choose(probabilities: [Float], labels: [Int], classes: [String], positive: Int,
                              targetSensitivity: Double) -> OperatingPoint? {
        guard classes.count == 2, positive < 2 else { return nil }
        let k = classes.count
        let scores = labels.indices.map { Double(probabilities[$0 * k + positive]) }
        let positives = labels.indices.filter { labels[$0] == positive }.map { scores[$0] }.sorted(by: >)
        guard !positives.isEmpty else { return nil }
        // The fewest positives that reach the target, and the largest threshold keeping them.
        let needed = min(positives.count, max(1, Int((targetSensitivity * Double(positives.count)).rounded(.up))))
        let threshold = positives[needed - 1]
        let negatives = labels.indices.filter { labels[$0] != positive }.map { scores[$0] }
        let caught = positives.filter { $0 >= threshold }.count
        return OperatingPoint(positiveClass: classes[positive], threshold: threshold, targetSensitivity: targetSensitivity,
                              validationSensitivity: Double(caught) / Double(positives.count),
                              validationSpecificity: negatives.isEmpty ? nil
                                  : Double(negatives.filter { $0 < threshold }.count) / Double(negatives.count))
    }
}

/// How class probabilities become a predicted class: argmax, or a two-class model's operating
/// point (the positive class when its probability reaches the threshold).
public struct DecisionRule: Sendable, Equatable {
    public var operatingPoint: OperatingPoint?
    /// The positive class's index, when there is an operating point.
    public var positive: Int?

    public static let argmax = DecisionRule(operatingPoint: nil, positive: nil)

    /// The rule of a model with these classes: its operating point when it names one of them.
    public init(operatingPoint: OperatingPoint?, classes: [String]) {
        if let operatingPoint, classes.count == 2, let p = classes.firstIndex(of: operatingPoint.positiveClass) {
            self.init(operatingPoint: operatingPoint, positive: p)
        } else {
            self.init(operatingPoint: nil, positive: nil)
        }
    }

    init(operatingPoint: OperatingPoint?, positive: Int?) {
        self.operatingPoint = operatingPoint
        self.positive = positive
    }

    /// The predicted class of one row of probabilities.
    public func predicted<C: RandomAccessCollection>(_ row: C) -> Int where C.Element == Float, C.Index == Int {
        if let operatingPoint, let positive, row.count == 2 {
            return Double(row[row.startIndex + positive]) >= operatingPoint.threshold ? positive : 1 - positive
        }
        return Argmax.of(Array(row)) ?? 0
    }

    /// The predicted class of every row of `probabilities` (`[n, columns]`).
    public func predicted(_ probabilities: [Float], columns: Int) -> [Int] {
        guard columns > 0 else { return [] }
        return (0..<(probabilities.count / columns)).map { r in predicted(probabilities[(r * columns)..<((r + 1) * columns)]) }
    }
}
