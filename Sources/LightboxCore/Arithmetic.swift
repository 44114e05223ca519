/// The number format of a network's products (convolutions and matrix products).
public enum Precision: String, Sendable, CaseIterable, Codable {
    case fp32, bf16
}

/// How a network's products are computed: the precision and, for bfloat16, which kernels.
///
/// bf16 means what torch's CPU autocast means for these products: each operand rounded to
/// bfloat16 (8-bit mantissa, round to nearest even), products summed in float32, a float32
/// result; weights, optimiser state, batch-norm statistics, loss and softmax stay float32.
/// `.native` runs oneDNN's AVX-512 BF16 kernels (two products per instruction lane where fp32
/// has one). `.emulated` runs the fp32 kernels on operands rounded to bf16: the same values,
/// summed in a different order, and slower than fp32 (the rounding is an extra pass). It serves
/// a CPU without AVX-512 BF16 when bf16 is asked for, and the tests on any CPU.
public struct Arithmetic: Sendable, Hashable, CustomStringConvertible {
    public enum Kernels: String, Sendable { case native, emulated }

    public let precision: Precision
    public let kernels: Kernels

    public static let fp32 = Arithmetic(precision: .fp32, kernels: .native)
    public static let bf16 = Arithmetic(precision: .bf16, kernels: .native)
    public static let bf16Emulated = Arithmetic(precision: .bf16, kernels: .emulated)

    public var isBF16: Bool { precision == .bf16 }

    /// What a cache key appends: nothing for fp32 (keys made before precision existed stay
    /// valid), "+bf16" for either bf16 kernel (they compute the same values), so results of
    /// the two precisions are never mixed.
    public var cacheTag: String { isBF16 ? "+bf16" : "" }

    public var description: String {
        switch (precision, kernels) {
        case (.fp32, _): "fp32"
        case (.bf16, .native): "bf16 (AVX-512 BF16 kernels)"
        case (.bf16, .emulated): "bf16 (emulated with fp32 kernels)"
        }
    }
}
