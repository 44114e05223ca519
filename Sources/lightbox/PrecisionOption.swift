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

    /// `base` computing in the chosen arithmetic; says on standard error when the choice is not
    /// what was asked or what a CPU with AVX-512 BF16 would run.
    func settings(_ base: LightboxSettings) -> LightboxSettings {
        let choice = PrecisionChoice.choose(requested: precision)
        if let note = choice.note { Terminal.note(note) }
        return base.with(arithmetic: choice.arithmetic)
    }
}
