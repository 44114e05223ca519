#if canImport(Glibc)
import Glibc
#endif
import Foundation

/// Temperature scaling (Guo et al. 2017): one number T > 0 that softens (T > 1) or sharpens
/// (T < 1) a model's class probabilities, `softmax(log(p) / T)`, fitted to minimise the negative
/// log-likelihood of held-out labels (a cross-fitted run's out-of-fold predictions). It keeps
/// the ranking of the classes in every row, so the argmax class stays, and with two classes it
/// is monotone in the positive class's probability, so the ROC curve and AUC stay too (an
/// operating point must be chosen on the calibrated probabilities it will be applied to); what
/// changes is how far the probabilities can be trusted as probabilities. An ensemble's probabilities are
/// already averaged, so `log(p)` stands in for the logit: the scaling is fitted and applied on
/// exactly what the bundle outputs.
public struct TemperatureScaling: Codable, Sendable, Equatable {
    public var temperature: Double

    /// The temperatures `fit` chooses from: wide enough for any model Lightbox trains (a run that
    /// needs more has other problems), narrow enough that a few rows cannot push T to 0 or infinity.
    public static let fittedRange: ClosedRange<Double> = 0.05...20
    /// Probabilities are clamped to this before their logarithm, so a 0 stays finite.
    public static let floor = 1e-7

    public init(temperature: Double) {
        self.temperature = temperature
    }

    /// The temperature in `fittedRange` minimising the mean negative log-likelihood of
    /// `softmax(log(p) / T)` over the rows of `probabilities` (`[rows, classes]`, row-major,
    /// each row a softmax output) with their `labels`; nil with fewer than 2 rows or one label
    /// value only (nothing to calibrate against).
    ///
    /// With u = 1/T the loss is `mean(logsumexp(u z) - u z_y)` (z = log p): convex in u, its
    /// derivative `mean(E[z] - z_y)` increasing and its second derivative the mean variance of z
    /// under the scaled probabilities. So the minimum is the derivative's one root, found by
    /// Newton steps kept inside a shrinking bracket (bisection when a step leaves it), or an end
    /// of the range when the derivative has one sign over all of it.
    public static func fit(probabilities: [Float], labels: [Int], classes: Int) -> TemperatureScaling? {
        precondition(classes >= 2 && probabilities.count == labels.count * classes, "probabilities must be [labels.count, classes]")
        precondition(labels.allSatisfy { (0..<classes).contains($0) }, "labels must be class indices")
        guard labels.count >= 2, Set(labels).count >= 2 else { return nil }
        let z = probabilities.map { log(max(Double($0), floor)) }
        // u = 1/T: the range's ends swap.
        var low = 1 / fittedRange.upperBound, high = 1 / fittedRange.lowerBound
        let atLow = derivatives(z, labels, classes, u: low), atHigh = derivatives(z, labels, classes, u: high)
        if atLow.first >= 0 { return TemperatureScaling(temperature: fittedRange.upperBound) }
        if atHigh.first <= 0 { return TemperatureScaling(temperature: fittedRange.lowerBound) }
        var u = 1.0
        for _ in 0..<100 {
            let d = derivatives(z, labels, classes, u: u)
            if d.first < 0 { low = u } else { high = u }
            if d.first == 0 || high - low <= 1e-12 * high { break }
            let newton = d.second > 0 ? u - d.first / d.second : .nan
            let next = newton > low && newton < high ? newton : (low + high) / 2
            if abs(next - u) <= 1e-13 * u { u = next; break }
            u = next
        }
        return TemperatureScaling(temperature: 1 / u)
    }

    /// The mean negative log-likelihood (natural log) of `labels` under `softmax(log(p) / temperature)`.
    public static func negativeLogLikelihood(probabilities: [Float], labels: [Int], classes: Int, temperature: Double) -> Double {
        precondition(probabilities.count == labels.count * classes && temperature > 0)
        guard !labels.isEmpty else { return 0 }
        let z = probabilities.map { log(max(Double($0), floor)) }, u = 1 / temperature
        var total = 0.0
        for (r, y) in labels.enumerated() {
            let row = z[(r * classes)..<((r + 1) * classes)].map { $0 * u }
            let top = row.max()!
            total += top + log(row.reduce(0) { $0 + exp($1 - top) }) - row[y]
        }
        return total / Double(labels.count)
    }

    /// The loss's first and second derivatives in u = 1/T (see `fit`).
    static func derivatives(_ z: [Double], _ labels: [Int], _ classes: Int, u: Double) -> (first: Double, second: Double) {
        var first = 0.0, second = 0.0
        for (r, y) in labels.enumerated() {
            let row = z[(r * classes)..<((r + 1) * classes)]
            let top = row.max()! * u
            var total = 0.0, mean = 0.0, square = 0.0
            for v in row {
                let e = exp(v * u - top)
                total += e
                mean += e * v
                square += e * v * v
            }
            mean /= total
            first += mean - row[row.startIndex + y]
            second += max(0, square / total - mean * mean)
        }
        let n = Double(labels.count)
        return (first / n, second / n)
    }

    /// `softmax(log(p) / temperature)` of every row of `probabilities` (`[rows, classes]`); at
    /// T = 1 the input itself, unchanged.
    public func apply(_ probabilities: [Float], classes: Int) -> [Float] {
        guard temperature != 1, classes > 0 else { return probabilities }
        precondition(probabilities.count % classes == 0, "probabilities must be [rows, classes]")
        var out = [Float](repeating: 0, count: probabilities.count)
        let u = 1 / temperature
        var row = [Double](repeating: 0, count: classes)
        for start in stride(from: 0, to: probabilities.count, by: classes) {
            for c in 0..<classes { row[c] = log(max(Double(probabilities[start + c]), Self.floor)) * u }
            let top = row.max()!
            var total = 0.0
            for c in 0..<classes {
                row[c] = exp(row[c] - top)
                total += row[c]
            }
            for c in 0..<classes { out[start + c] = Float(row[c] / total) }
        }
        return out
    }
}
