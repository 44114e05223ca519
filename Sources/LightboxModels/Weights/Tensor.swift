/// A named float32 array with a shape: the unit every weight format reads and writes.
public struct Tensor: Sendable, Equatable {
    public var shape: [Int]
    public var values: [Float]

    public init(shape: [Int], values: [Float]) {
        precondition(shape.reduce(1, *) == values.count, "tensor of shape \(shape) cannot hold \(values.count) values")
        self.shape = shape
        self.values = values
    }
}

/// Why a weights file could not be used. Its description names the file and says how to fix it.
public struct WeightsError: Error, CustomStringConvertible, Sendable {
    public let description: String
    public init(_ description: String) { self.description = description }
}

/// Tensors looked up by name, with shape checks: what a network builder reads its weights from.
public struct NamedTensors: Sendable {
    public var tensors: [String: Tensor]
    /// Where they came from, for error messages.
    public var source: String

    public init(_ tensors: [String: Tensor], source: String) {
        self.tensors = tensors
        self.source = source
    }

    /// The tensor `name`, which must have exactly `shape` and only finite values.
    public func tensor(_ name: String, shape: [Int]) throws -> Tensor {
        guard let t = tensors[name] else {
            throw WeightsError("\(source): missing tensor '\(name)'")
        }
        guard t.shape == shape else {
            throw WeightsError("\(source): tensor '\(name)' has shape \(t.shape), expected \(shape)")
        }
        guard t.values.allSatisfy({ $0.isFinite }) else {
            throw WeightsError("\(source): tensor '\(name)' contains NaN or infinite values")
        }
        return t
    }
}

/// Matrix layout changes between frameworks (Keras keeps dense kernels `[in, out]`, torch
/// and Lightbox `[out, in]`).
public enum MatrixLayout {
    /// `values` as a `rows x columns` row-major matrix, transposed to `columns x rows`.
    public static func transposed(_ values: [Float], rows: Int, columns: Int) -> [Float] {
        precondition(values.count == rows * columns)
        var t = [Float](repeating: 0, count: values.count)
        for r in 0..<rows { for c in 0..<columns { t[c * rows + r] = values[r * columns + c] } }
        return t
    }
}

/// Element counts of shapes read from files, checked: negative dimensions or a product that
/// overflows (or passes `limit`) give nil instead of a trap or a giant allocation.
public enum ShapeMath {
    public static func elementCount(_ shape: [Int], limit: Int = 1 << 32) -> Int? {
        var n = 1
        for d in shape {
            guard d >= 0 else { return nil }
            let (p, overflow) = n.multipliedReportingOverflow(by: d)
            guard !overflow, p <= limit else { return nil }
            n = p
        }
        return n
    }
}
