import Foundation
import LightboxCore

/// Per-class precision and recall (recall is that class's accuracy).
public struct ClassMetrics: Sendable, Equatable, Codable {
    public var precision: Double?
    public var recall: Double?
    public var support: Int
}

/// Evaluation of class probabilities against true labels, with the image groups
/// (patients) they came from.
public struct ClassificationMetrics: Sendable, Codable {
    public var classes: [String]
    public var positiveClass: String?
    public var nImages: Int
    public var nPatients: Int
    public var accuracy: Double
    /// `confusion[true][predicted]`.
    public var confusion: [[Int]]
    public var perClass: [String: ClassMetrics]
    public var auc: Double?
    public var aucCI: [Double]?
    public var sensitivity: Double?
    public var specificity: Double?
    /// 95% intervals of sensitivity and specificity over resamples of patients (as the AUC's),
    /// nil with fewer than `ROC.fewestPatientsForInterval` patients of that side.
    public var sensitivityCI: [Double]?
    public var specificityCI: [Double]?
    /// 95% interval of the accuracy over resamples of patients, nil with fewer than
    /// `ROC.fewestPatientsForInterval` patients.
    public var accuracyCI: [Double]?
    /// How many patients (groups) have pictures of each class (nil in metrics from before it was recorded).
    public var patientsPerClass: [String: Int]?
    /// Points of the ROC curve, as (false positive rate, true positive rate).
    public var roc: [[Double]]?
    /// Two classes: the threshold on the positive class's probability behind the predictions
    /// above (the model's operating point, or 0.5 when it predicts by argmax).
    public var threshold: Double?
    /// Two classes: threshold 0.5 (argmax), for comparison with the operating point.
    public var atArgmax: ThresholdMetrics?
    /// Mean squared difference between probabilities and the one-hot truth (two classes: of
    /// the positive class's probability, 0 is perfect, 0.25 is always saying 50%).
    public var brier: Double?
    /// Two classes: the reliability diagram's bins of the positive class's probability.
    public var calibration: [CalibrationBin]?

    enum CodingKeys: String, CodingKey {
        case classes, positiveClass = "positive_class", nImages = "n_images", nPatients = "n_patients", accuracy, confusion
        case perClass = "per_class", auc, aucCI = "auc_ci", sensitivity, specificity, roc
        case sensitivityCI = "sensitivity_ci", specificityCI = "specificity_ci"
        case threshold, atArgmax = "at_argmax", brier, calibration
        case accuracyCI = "accuracy_ci", patientsPerClass = "n_patients_per_class"
    }

    /// - Parameters:
    ///   - probabilities: `[n, classes]`.
    ///   - positive: the class whose probability is the score for ROC (two classes only).
    ///   - bootstrap: resamples of patients for the AUC's 95% interval.
    ///   - decision: how probabilities become predictions (a two-class model's operating point,
    ///     when it has one for `positive`; else argmax).
    public init(classes: [String], labels: [Int], probabilities: [Float], groups: [String],
                positive: Int?, decision: DecisionRule = .argmax, bootstrap: Int = 1000, seed: UInt64 = 42) {
        let k = classes.count, n = labels.count
        self.classes = classes
        nImages = n
        nPatients = Set(groups).count
        let rule = decision.positive == positive ? decision : .argmax
        let predicted = rule.predicted(probabilities, columns: k)
        brier = n == 0 ? nil : Self.brierScore(labels: labels, probabilities: probabilities, classes: k, positive: positive)
        var confusion = [[Int]](repeating: [Int](repeating: 0, count: k), count: k)
        for r in 0..<n { confusion[labels[r]][predicted[r]] += 1 }
        self.confusion = confusion
        accuracy = n == 0 ? 0 : Double((0..<k).map { confusion[$0][$0] }.reduce(0, +)) / Double(n)
        var perClass: [String: ClassMetrics] = [:]
        for c in 0..<k {
            let tp = confusion[c][c]
            let predictedC = (0..<k).map { confusion[$0][c] }.reduce(0, +)
            let actualC = confusion[c].reduce(0, +)
            perClass[classes[c]] = ClassMetrics(precision: predictedC == 0 ? nil : Double(tp) / Double(predictedC),
                                                recall: actualC == 0 ? nil : Double(tp) / Double(actualC), support: actualC)
        }
        self.perClass = perClass
        patientsPerClass = Dictionary(uniqueKeysWithValues: classes.indices.map { c in
            (classes[c], Set(labels.indices.filter { labels[$0] == c }.map { groups[$0] }).count)
        })
        if bootstrap > 0 {
            accuracyCI = ROC.bootstrapAccuracyInterval(correct: (0..<n).map { predicted[$0] == labels[$0] }, groups: groups,
                                                       resamples: bootstrap, seed: seed)
        }

        guard k == 2, let positive else { return }
        positiveClass = classes[positive]
        let negative = 1 - positive
        let tp = confusion[positive][positive], fn = confusion[positive][negative]
        let tn = confusion[negative][negative], fp = confusion[negative][positive]
        sensitivity = tp + fn == 0 ? nil : Double(tp) / Double(tp + fn)
        specificity = tn + fp == 0 ? nil : Double(tn) / Double(tn + fp)
        let scores = (0..<n).map { r -> Double in Double(probabilities[r * k + positive]) }
        let isPositive = labels.map { $0 == positive }
        threshold = rule.operatingPoint?.threshold ?? 0.5
        atArgmax = ThresholdMetrics(threshold: 0.5, predicted: Argmax.rows(probabilities, columns: k), labels: labels,
                                    positive: positive)
        calibration = CalibrationBin.bins(scores: scores, positive: isPositive)
        auc = ROC.auc(scores: scores, positive: isPositive)
        roc = ROC.curve(scores: scores, positive: isPositive).map { [$0.fpr, $0.tpr] }
        if auc != nil, bootstrap > 0 {
            aucCI = ROC.bootstrapInterval(scores: scores, positive: isPositive, groups: groups, resamples: bootstrap, seed: seed)
        }
        if bootstrap > 0 {
            let correct = (0..<n).map { predicted[$0] == labels[$0] }
            (sensitivityCI, specificityCI) = ROC.bootstrapRateIntervals(correct: correct, positive: isPositive, groups: groups,
                                                                        resamples: bootstrap, seed: seed)
        }
    }
}

extension ClassificationMetrics {
    /// Brier's score: two classes, the mean of (p_positive - truth)^2; more classes, the mean
    /// over images of the squared distance between the probability row and the one-hot truth.
    static func brierScore(labels: [Int], probabilities: [Float], classes k: Int, positive: Int?) -> Double {
        var sum = 0.0
        for (r, y) in labels.enumerated() {
            if k == 2, let positive {
                let d = Double(probabilities[r * k + positive]) - (y == positive ? 1 : 0)
                sum += d * d
            } else {
                for c in 0..<k {
                    let d = Double(probabilities[r * k + c]) - (y == c ? 1 : 0)
                    sum += d * d
                }
            }
        }
        return sum / Double(labels.count)
    }
}

/// Accuracy, sensitivity and specificity of a two-class model's predictions at one threshold.
public struct ThresholdMetrics: Sendable, Codable, Equatable {
    public var threshold: Double
    public var accuracy: Double
    public var sensitivity: Double?
    public var specificity: Double?

    init(threshold: Double, predicted: [Int], labels: [Int], positive: Int) {
        self.threshold = threshold
        let pairs = zip(labels, predicted)
        let tp = pairs.filter { $0 == positive && $1 == positive }.count, fn = pairs.filter { $0 == positive && $1 != positive }.count
        let tn = pairs.filter { $0 != positive && $1 != positive }.count, fp = pairs.filter { $0 != positive && $1 == positive }.count
        accuracy = labels.isEmpty ? 0 : Double(tp + tn) / Double(labels.count)
        sensitivity = tp + fn == 0 ? nil : Double(tp) / Double(tp + fn)
        specificity = tn + fp == 0 ? nil : Double(tn) / Double(tn + fp)
    }
}

/// One bin of a reliability diagram: images whose positive-class probability fell in
/// `(lower, upper]` (the first bin includes 0, as scikit-learn's `calibration_curve` bins), their
/// mean probability and the fraction that were positive. A calibrated model has the two equal.
public struct CalibrationBin: Sendable, Codable, Equatable {
    public var lower: Double, upper: Double
    public var count: Int
    public var meanProbability: Double?
    public var observedFraction: Double?

    enum CodingKeys: String, CodingKey {
        case lower, upper, count, meanProbability = "mean_probability", observedFraction = "observed_fraction"
    }

    /// Equal-width bins over 0...1 (edges `i * (1 / bins)`, as numpy's linspace makes them).
    static func bins(scores: [Double], positive: [Bool], count bins: Int = 10) -> [CalibrationBin] {
        let step = 1 / Double(bins)
        let inner = (1..<bins).map { Double($0) * step }
        var members = [[Int]](repeating: [], count: bins)
        for (i, s) in scores.enumerated() { members[inner.filter { $0 < s }.count].append(i) }
        return members.enumerated().map { b, m in
            let n = m.count
            return CalibrationBin(lower: Double(b) * step, upper: b == bins - 1 ? 1 : Double(b + 1) * step, count: n,
                                  meanProbability: n == 0 ? nil : m.map { scores[$0] }.reduce(0, +) / Double(n),
                                  observedFraction: n == 0 ? nil : Double(m.filter { positive[$0] }.count) / Double(n))
        }
    }
}

/// Receiver operating characteristic of scores for a binary outcome.
public enum ROC {
    /// Area under the ROC curve: the probability that a random positive scores above a random
    /// negative, ties counting half (Mann-Whitney). Nil without both outcomes.
    public static func auc(scores: [Double], positive: [Bool]) -> Double? {
        let pos = positive.filter { $0 }.count, neg = positive.count - pos
        guard pos > 0, neg > 0 else { return nil }
        // Average ranks over ties.
        let order = scores.indices.sorted { scores[$0] < scores[$1] }
        var ranks = [Double](repeating: 0, count: scores.count)
        var i = 0
        while i < order.count {
            var j = i
            while j + 1 < order.count && scores[order[j + 1]] == scores[order[i]] { j += 1 }
            let rank = Double(i + j) / 2 + 1
            for t in i...j { ranks[order[t]] = rank }
            i = j + 1
        }
        let rankSum = zip(ranks, positive).filter(\.1).map(\.0).reduce(0, +)
        return (rankSum - Double(pos * (pos + 1)) / 2) / Double(pos * neg)
    }

    /// The curve's corners, from (0, 0) to (1, 1), one per distinct threshold.
    public static func curve(scores: [Double], positive: [Bool]) -> [(fpr: Double, tpr: Double)] {
        let pos = Double(positive.filter { $0 }.count), neg = Double(positive.count) - pos
        guard pos > 0, neg > 0 else { return [] }
        let order = scores.indices.sorted { scores[$0] > scores[$1] }
        var points: [(Double, Double)] = [(0, 0)]
        var tp = 0.0, fp = 0.0
        for (n, i) in order.enumerated() {
            if positive[i] { tp += 1 } else { fp += 1 }
            if n + 1 == order.count || scores[order[n + 1]] != scores[i] { points.append((fp / neg, tp / pos)) }
        }
        return points
    }

    /// Below this many patients of a side, a sensitivity or specificity gets no interval: a
    /// bootstrap of four patients mostly redraws the same few and understates the uncertainty.
    public static let fewestPatientsForInterval = 5

    /// 95% percentile intervals of sensitivity (the share of positive pictures called
    /// positive) and specificity over resamples of whole patients with replacement, each nil
    /// with fewer than `fewestPatientsForInterval` patients of its side. `correct[i]`: picture i
    /// was called its true class.
    public static func bootstrapRateIntervals(correct: [Bool], positive: [Bool], groups: [String], resamples: Int,
                                              seed: UInt64) -> (sensitivity: [Double]?, specificity: [Double]?) {
        func interval(_ side: Bool, stream: String) -> [Double]? {
            bootstrapShareInterval(correct: correct, groups: groups, including: { positive[$0] == side },
                                   resamples: resamples, seed: seed, stream: stream)
        }
        return (interval(true, stream: "bootstrap-sensitivity"), interval(false, stream: "bootstrap-specificity"))
    }

    /// 95% percentile interval of the share of pictures called their true class, over resamples
    /// of whole patients with replacement; nil with fewer than `fewestPatientsForInterval` patients.
    public static func bootstrapAccuracyInterval(correct: [Bool], groups: [String], resamples: Int, seed: UInt64) -> [Double]? {
        bootstrapShareInterval(correct: correct, groups: groups, including: { _ in true }, resamples: resamples, seed: seed,
                               stream: "bootstrap-accuracy")
    }

    /// The patient bootstrap behind the accuracy, sensitivity and specificity intervals: the share
    /// of the `including` pictures called their true class, over resamples of their patients with
    /// replacement (random stream `stream`); nil with fewer than `fewestPatientsForInterval` patients.
    static func bootstrapShareInterval(correct: [Bool], groups: [String], including: (Int) -> Bool, resamples: Int,
                                       seed: UInt64, stream: String) -> [Double]? {
        var members: [String: [Int]] = [:]
        for i in groups.indices where including(i) { members[groups[i], default: []].append(i) }
        let keys = members.keys.sorted()
        guard keys.count >= fewestPatientsForInterval else { return nil }
        var generator = SeededGenerator(seed: seed, stream: stream)
        var values: [Double] = []
        for _ in 0..<resamples {
            var hits = 0, total = 0
            for _ in 0..<keys.count {
                for i in members[keys[Int(generator.next() % UInt64(keys.count))]]! {
                    total += 1
                    if correct[i] { hits += 1 }
                }
            }
            values.append(Double(hits) / Double(total))
        }
        return percentileInterval(values)
    }

    /// The 2.5th and 97.5th percentiles (linear between neighbours).
    static func percentileInterval(_ unsorted: [Double]) -> [Double] {
        let values = unsorted.sorted()
        func percentile(_ q: Double) -> Double {
            let x = q * Double(values.count - 1)
            let lo = Int(x), hi = min(lo + 1, values.count - 1)
            return values[lo] + (values[hi] - values[lo]) * (x - Double(lo))
        }
        return [percentile(0.025), percentile(0.975)]
    }

    /// 95% percentile interval of the AUC over resamples of whole groups (patients) with
    /// replacement; resamples lacking either outcome are drawn again.
    public static func bootstrapInterval(scores: [Double], positive: [Bool], groups: [String],
                                         resamples: Int, seed: UInt64) -> [Double]? {
        var members: [String: [Int]] = [:]
        for (i, g) in groups.enumerated() { members[g, default: []].append(i) }
        let keys = members.keys.sorted()
        guard keys.count >= 2 else { return nil }
        var generator = SeededGenerator(seed: seed, stream: "bootstrap-auc")
        var values: [Double] = []
        var attempts = 0
        while values.count < resamples && attempts < resamples * 10 {
            attempts += 1
            var s: [Double] = [], p: [Bool] = []
            for _ in 0..<keys.count {
                for i in members[keys[Int(generator.next() % UInt64(keys.count))]]! {
                    s.append(scores[i])
                    p.append(positive[i])
                }
            }
            if let a = auc(scores: s, positive: p) { values.append(a) }
        }
        guard values.count >= 20 else { return nil }
        return percentileInterval(values)
    }
}
