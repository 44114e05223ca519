import Foundation

/// Row-wise softmax, stable against large logits.
public enum Softmax {
    /// Softmax of one row.
    public static func apply(_ logits: [Float]) -> [Float] {
        guard let top = logits.max() else { return [] }
        let e = logits.map { expf($0 - top) }
        let total = e.reduce(0, +)
        return e.map { $0 / total }
    }
}

#if canImport(Glibc)
import Glibc
#endif
