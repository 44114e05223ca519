import ArgumentParser
import Foundation
import LightboxTraining

struct Export: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Export a trained model: Teachable Machine's TF.js format (tfjs).",
        discussion: "Writes the folder atomically (built beside it, swapped in with one rename).")

    @Option(help: "The model bundle (a run's model/ folder).")
    var model: String

    @Option(help: "Export format: tfjs.")
    var format: ExportFormat

    @Option(help: "Output folder.")
    var out: String

    enum ExportFormat: String, ExpressibleByArgument, CaseIterable { case tfjs }

    func run() throws {
        do {
            let bundle = try ModelBundle.read(from: model)
            switch format {
            case .tfjs: try TFJSExporter.export(bundle, to: out)
            }
            print("exported \(format.rawValue): \(out)")
        } catch {
            throw Terminal.fail(error)
        }
    }
}
