import ArgumentParser
import Foundation
import LightboxCore
import LightboxWorkflows

struct Audit: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Shortcut audit: score a data set as it is, with each picture's lungs blacked out, and with only the lungs left.",
        discussion: """
            The lung locator finds each picture's lungs (one pass of the pretrained MobileNetV2 a picture); the audit \
            blacks out that box plus a 5% margin, or everything outside it, and reports how much of each picture's \
            heatmap falls inside the box. --box central blanks the fixed central box (x 15-85%, y 10-90% of the \
            model's input) instead, as the audit did before. A model that keeps its AUC with the lungs blacked out is \
            reading borders, text, devices or the look of a hospital's pictures. \
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

    @OptionGroup var boxOption: AuditBoxOption

    @OptionGroup var locatorOption: LocatorOption

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
            request.box = boxOption.box
            if boxOption.box == .lungs {
                request.locator = try locatorOption.load()
                request.locatorName = locatorOption.name
            } else if locatorOption.locator != nil {
                throw ValidationError("--locator finds the lungs for --box lungs; --box central uses no locator")
            }
            let audit = try AuditRun.run(request, reporter: TerminalReporter())
            print("\(audit.nImages) images, \(audit.nPatients) patients")
            for c in audit.conditions {
                let auc = c.auc.map { String(format: "AUC %.3f, ", $0) } ?? ""
                print(String(format: "%@: %@accuracy %.3f (%d images)", c.name, auc, c.accuracy, c.nImages))
            }
            print(audit.verdict)
            if let mass = audit.heatmapMass { print(mass.text) }
            if let out { print("audit: \(out)") }
            precisionOption.announce(defaultFallback: false)
            print("Educational and research software: not a diagnosis.")
        }
    }
}
