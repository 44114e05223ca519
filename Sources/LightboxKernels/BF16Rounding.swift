import LightboxCore
import CLightboxKernels
import Foundation

/// float32 to bfloat16, rounding to nearest even (bf16.c), as oneDNN and torch convert.
public enum BF16Rounding {
    /// The nearest bf16 value of each element, as floats.
    public static func rounded(_ values: [Float]) -> [Float] {
        [Float](unsafeUninitializedCapacity: values.count) { out, count in
            values.withUnsafeBufferPointer { lightbox_round_to_bf16($0.baseAddress, out.baseAddress, values.count) }
            count = values.count
        }
    }
}

/// An operand's rounded copy, in the form the product's kernels read: bf16 bits (native) or
/// bf16 values as floats (emulated). Owned, 64-byte aligned, reused across runs.
final class BF16Operand: @unchecked Sendable {
    let kernels: Arithmetic.Kernels
    let count: Int
    let raw: UnsafeMutableRawPointer

    init(count: Int, kernels: Arithmetic.Kernels) {
        self.kernels = kernels
        self.count = count
        var p: UnsafeMutableRawPointer?
        let bytes = max(count, 1) * (kernels == .native ? 2 : 4)
        // The call stays outside the precondition: this module builds with -Ounchecked, where a
        // precondition's condition is not evaluated at all.
        let status = posix_memalign(&p, 64, bytes)
        precondition(status == 0 && p != nil, "out of memory allocating \(bytes) bytes")
        raw = p!
    }

    deinit { free(raw) }

    /// Rounds `count` (at most this operand's) floats from `values` into this buffer.
    func fill(from values: UnsafePointer<Float>, count: Int) {
        precondition(count <= self.count)
        switch kernels {
        case .native: lightbox_f32_to_bf16(values, raw.assumingMemoryBound(to: UInt16.self), count)
        case .emulated: lightbox_round_to_bf16(values, raw.assumingMemoryBound(to: Float.self), count)
        }
    }

    var floats: UnsafeMutablePointer<Float> { raw.assumingMemoryBound(to: Float.self) }
}
