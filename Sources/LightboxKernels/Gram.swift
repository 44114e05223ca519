import CLightboxKernels

/// Products in double for fits solved in the space of the samples (the lung locator's dual
/// ridge regression): few rows, many values a row (gram.c).
public enum Gram {
    /// `[n, n]`: every pair of `rows`' dot products (each row `values` floats long).
    public static func of(_ x: [Float], rows n: Int, values p: Int) -> [Double] {
        precondition(x.count == n * p)
        var g = [Double](repeating: 0, count: n * n)
        x.withUnsafeBufferPointer { x in g.withUnsafeMutableBufferPointer { lightbox_gram_f64(x.baseAddress, n, p, $0.baseAddress) } }
        return g
    }

    /// `[p, m]`: `sum_i x[i, k] a[i, c]`, the rows weighted by `a` (`[n, m]`) and summed.
    public static func weightedRowSum(_ x: [Float], rows n: Int, values p: Int, weights a: [Double], columns m: Int) -> [Double] {
        precondition(x.count == n * p && a.count == n * m)
        var out = [Double](repeating: 0, count: p * m)
        x.withUnsafeBufferPointer { x in
            a.withUnsafeBufferPointer { a in
                out.withUnsafeMutableBufferPointer { lightbox_weighted_row_sum_f64(x.baseAddress, n, p, a.baseAddress, m, $0.baseAddress) }
            }
        }
        return out
    }
}
