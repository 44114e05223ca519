import ArgumentParser
import LightboxCore
import LightboxKernels

/// `--precision bf16|fp32` of every command that runs a network: what its convolution and matrix
/// products compute in. Without it: bf16 where the CPU has AVX-512 BF16, else fp32 with a note.
/// bf16 asked for on a CPU without it runs bf16's numbers emulated (slower), with a note.
struct PrecisionOption: ParsableArguments {
    @Option(help: ArgumentHelp("Products in bf16 (float32 sums and weights) or fp32; default: bf16 where the CPU has AVX-512 BF16, else fp32.",
                               valueName: "bf16|fp32"))
    var precision: Precision?

    /// `base` computing in the chosen arithmetic.
    func settings(_ base: LightboxSettings) -> LightboxSettings {
        base.with(arithmetic: PrecisionChoice.choose(requested: precision).arithmetic)
    }

    /// What to tell the user about the choice, said once the work is done (an error stays the
    /// one line it was): always when bf16 was asked for and is emulated; when the default fell
    /// back to fp32 only if `defaultFallback` (train and serve, whose speed it explains; a
    /// quick predict or embed computes in fp32 as it always did, and says nothing).
    func note(defaultFallback: Bool) -> String? {
        guard precision != nil || defaultFallback else { return nil }
        return PrecisionChoice.choose(requested: precision).note
    }

    func announce(defaultFallback: Bool) {
        if let note = note(defaultFallback: defaultFallback) { Terminal.note(note) }
    }
}
