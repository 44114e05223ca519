import CDNNL
import LightboxCore

/// The arithmetic a run uses for a requested precision, and what to tell the user about it.
public struct PrecisionChoice: Sendable {
    public let arithmetic: Arithmetic
    /// Set when the choice differs from what was asked, or from what a faster CPU would run.
    public let note: String?

    /// nil (no `--precision`): bf16 where the CPU has AVX-512 BF16 and oneDNN's bf16 kernels
    /// pass their self-check, else fp32 with a note. `.bf16` asked for on a CPU without them:
    /// emulated bf16, with a note. `.fp32`: fp32.
    public static func choose(requested: Precision?, support: BF16Support = .detected) -> PrecisionChoice {
        switch requested {
        case .fp32:
            return PrecisionChoice(arithmetic: .fp32, note: nil)
        case .bf16:
            if support.available { return PrecisionChoice(arithmetic: .bf16, note: nil) }
            return PrecisionChoice(arithmetic: .bf16Emulated,
                                   note: "bf16 asked for, but \(support.reason): its products are emulated with fp32 kernels on "
                                       + "bf16-rounded operands (the same numbers, slower than --precision fp32)")
        case nil:
            if support.available { return PrecisionChoice(arithmetic: .bf16, note: nil) }
            return PrecisionChoice(arithmetic: .fp32, note: "computing in fp32: \(support.reason) (bf16 is the default where it is)")
        }
    }
}

/// Whether this CPU runs oneDNN's bfloat16 kernels, and why not when it does not.
public struct BF16Support: Sendable {
    public let available: Bool
    /// Why not (empty when available).
    public let reason: String

    public init(available: Bool, reason: String) {
        self.available = available
        self.reason = reason
    }

    /// Checked once per process: the instruction set oneDNN found, then a self-check of the
    /// bf16 products against their emulation (`BF16SelfCheck`).
    public static let detected: BF16Support = {
        let isa = dnnl_get_effective_cpu_isa()
        guard isa.rawValue & dnnl_cpu_isa_avx512_core_bf16.rawValue == dnnl_cpu_isa_avx512_core_bf16.rawValue else {
            return BF16Support(available: false, reason: "this CPU has no AVX-512 BF16 (oneDNN runs \(CPUInstructionSet.name(isa)) kernels)")
        }
        if let failure = BF16SelfCheck.failure() {
            return BF16Support(available: false, reason: "oneDNN's bf16 kernels failed their self-check (\(failure))")
        }
        return BF16Support(available: true, reason: "")
    }()
}

/// oneDNN's name for the instruction set it dispatches to.
public enum CPUInstructionSet {
    public static var effective: String { name(dnnl_get_effective_cpu_isa()) }

    static func name(_ isa: dnnl_cpu_isa_t) -> String {
        let names: [(dnnl_cpu_isa_t, String)] = [
            (dnnl_cpu_isa_avx512_core_amx, "avx512_core_amx"), (dnnl_cpu_isa_avx512_core_bf16, "avx512_core_bf16"),
            (dnnl_cpu_isa_avx512_core_vnni, "avx512_core_vnni"), (dnnl_cpu_isa_avx512_core, "avx512_core"),
            (dnnl_cpu_isa_avx2_vnni, "avx2_vnni"), (dnnl_cpu_isa_avx2, "avx2"), (dnnl_cpu_isa_avx, "avx"),
            (dnnl_cpu_isa_sse41, "sse41"),
        ]
        return names.first { isa.rawValue & $0.0.rawValue == $0.0.rawValue }?.1 ?? "baseline"
    }
}
