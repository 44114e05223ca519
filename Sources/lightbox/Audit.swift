import ArgumentParser
import Foundation
import LightboxCore
import LightboxWorkflows

struct Audit: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Shortcut audit: score a data set as it is, with the lungs' region blacked out, and with only that region left.",
        discussion: """
            The central box (x 15-85%, y 10-90% of the model's input) covers most of the lungs. A model that keeps \
            its AUC with it blacked out is reading borders, text, devices or the look of a hospital's pictures. \
            Educational and research software: not a diagnosis.
            """)

    @Option(help: "The model: a Lightbox bundle (a run's model/ folder, or a zip of it such as the Studio's download) or a Teachable Machine TF.js export.")
    var model: String

    @OptionGroup var dataOptions: DataOptions

    @Option(help: "Where to write the audit (JSON). Default: printed only.")
    var out: String?

    @Option(help: "Positive class for the AUC (default: COVID-19 when present).")
    var positive: String?

    @OptionGroup var dicom: DICOMOptions

    @OptionGroup var precisionOption: PrecisionOption

    func run() throws {
        try Terminal.run {
            if let out { try OutputPath.check(out, as: .file) }
            IdentificationOptions.installWarnings(dataOptions.identity)
            var request = AuditRun.Request(model: model, data: try dataOptions.selection(), settings: precisionOption.settings(Lightbox.settings))
            request.positiveClass = positive
            request.output = out
            request.dicomWindow = dicom.window
            request.overrideDICOMWindow = dicom.override
            let audit = try AuditRun.run(request, reporter: TerminalReporter())
            print("\(audit.nImages) images, \(audit.nPatients) patients")
            for c in audit.conditions {
                let auc = c.auc.map { String(format: "AUC %.3f, ", $0) } ?? ""
                print(String(format: "%@: %@accuracy %.3f (%d images)", c.name, auc, c.accuracy, c.nImages))
            }
            print(audit.verdict)
            if let out { print("audit: \(out)") }
            precisionOption.announce(defaultFallback: false)
            print("Educational and research software: not a diagnosis.")
        }
    }
}
