import Foundation

/// Ridge regression with an intercept, solved in the space of the samples (few samples, many
/// features: the lung locator's 62,720 feature-map values a picture). Everything is computed
/// from the Gram matrix of all samples, so that cross-validation over subsets and penalties
/// costs one Gram matrix. The penalty is relative: `penalty * trace(K) / n` for the centred
/// Gram matrix K of the n training samples, so one grid of penalties suits any feature scale.
public struct RidgeRegression: Sendable {
    /// The Gram matrix of every sample, `[n, n]`.
    public let gram: [Double]
    public let n: Int

    public init(gram: [Double], samples n: Int) {
        precondition(gram.count == n * n)
        self.gram = gram
        self.n = n
    }

    /// A fit on the samples `training`: dual coefficients and the targets' mean.
    public struct Fit: Sendable {
        public var training: [Int]
        /// `[training.count, outputs]`: the weight of each centred training sample.
        public var dual: [Double]
        public var targetMean: [Double]
        public var outputs: Int
        /// The penalty added to the centred Gram matrix's diagonal.
        public var absolutePenalty: Double
    }

    /// Fits `targets` (`[n][outputs]`, only the rows of `training` read) of the samples
    /// `training` with relative penalty `penalty`. Throws when the system cannot be solved
    /// (no samples, or a penalty so small the matrix is singular).
    public func fit(training: [Int], targets: [[Double]], penalty: Double) throws -> Fit {
        let t = training.count
        guard t > 0 else { throw RidgeError("no samples to fit") }
        let m = targets[training[0]].count
        let (row, total) = means(over: training)
        var k = [Double](repeating: 0, count: t * t)
        for a in 0..<t {
            for b in 0..<t {
                let i = training[a], j = training[b]
                k[a * t + b] = gram[i * n + j] - row[i] - row[j] + total
            }
        }
        let trace = (0..<t).reduce(0.0) { $0 + k[$1 * t + $1] }
        let lambda = penalty * max(trace / Double(t), .leastNormalMagnitude)
        for a in 0..<t { k[a * t + a] += lambda }
        var mean = [Double](repeating: 0, count: m)
        for i in training { for c in 0..<m { mean[c] += targets[i][c] } }
        mean = mean.map { $0 / Double(t) }
        var rhs = [Double](repeating: 0, count: t * m)
        for (a, i) in training.enumerated() { for c in 0..<m { rhs[a * m + c] = targets[i][c] - mean[c] } }
        let dual = try Self.solve(k, size: t, rhs: rhs, columns: m)
        return Fit(training: training, dual: dual, targetMean: mean, outputs: m, absolutePenalty: lambda)
    }

    /// The fit's predictions for the samples `rows` (any samples of the Gram matrix).
    public func predict(_ fit: Fit, rows: [Int]) -> [[Double]] {
        let (row, total) = means(over: fit.training)
        let m = fit.outputs
        return rows.map { i in
            var out = fit.targetMean
            for (a, j) in fit.training.enumerated() {
                let kij = gram[i * n + j] - row[i] - row[j] + total
                for c in 0..<m { out[c] += kij * fit.dual[a * m + c] }
            }
            return out
        }
    }

    /// For every sample i, the mean of its Gram entries with `training`; and the mean over
    /// training x training (what centring the features on the training mean subtracts).
    private func means(over training: [Int]) -> (row: [Double], total: Double) {
        let t = Double(training.count)
        var row = [Double](repeating: 0, count: n)
        for i in 0..<n { row[i] = training.reduce(0.0) { $0 + gram[i * n + $1] } / t }
        let total = training.reduce(0.0) { $0 + row[$1] } / t
        return (row, total)
    }

    /// Solves `a x = rhs` for a symmetric positive definite `a` (`[size, size]`) by Cholesky.
    static func solve(_ a: [Double], size n: Int, rhs: [Double], columns m: Int) throws -> [Double] {
        var l = [Double](repeating: 0, count: n * n)
        for i in 0..<n {
            for j in 0...i {
                var s = a[i * n + j]
                for k in 0..<j { s -= l[i * n + k] * l[j * n + k] }
                if i == j {
                    guard s > 0, s.isFinite else { throw RidgeError("the penalised Gram matrix is not positive definite: use a larger penalty") }
                    l[i * n + i] = s.squareRoot()
                } else {
                    l[i * n + j] = s / l[j * n + j]
                }
            }
        }
        var x = rhs
        for c in 0..<m {
            for i in 0..<n {  // L y = b
                var s = x[i * m + c]
                for k in 0..<i { s -= l[i * n + k] * x[k * m + c] }
                x[i * m + c] = s / l[i * n + i]
            }
            for i in stride(from: n - 1, through: 0, by: -1) {  // L^T x = y
                var s = x[i * m + c]
                for k in (i + 1)..<n { s -= l[k * n + i] * x[k * m + c] }
                x[i * m + c] = s / l[i * n + i]
            }
        }
        return x
    }
}

public struct RidgeError: Error, CustomStringConvertible, Sendable {
    public let description: String
    public init(_ description: String) { self.description = description }
}
