import ArgumentParser
import LightboxWorkflows

extension AuditBox: ExpressibleByArgument {}

/// `--box lungs|central`: what the shortcut audit blanks (audit, train).
struct AuditBoxOption: ParsableArguments {
    @Option(help: ArgumentHelp("What the shortcut audit blacks out: each picture's lungs as the lung locator finds them, plus a 5% margin (lungs), or the fixed central box x 15-85%, y 10-90% of the model's input (central, the audit before the lungs were located).",
                               valueName: "lungs|central"))
    var box: AuditBox = .lungs
}
