import ArgumentParser
import Foundation
import LightboxTraining

struct Export: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Export a trained model: Teachable Machine's TF.js format (tfjs) or ONNX (onnx).",
        discussion: "Writes the folder atomically (built beside it, swapped in with one rename).")

    @Option(help: "The model bundle (a run's model/ folder).")
    var model: String

    @Option(help: "Export format: tfjs (a folder) or onnx (one .onnx file).")
    var format: ExportFormat

    @Option(help: "Output folder (tfjs) or file (onnx).")
    var out: String

    enum ExportFormat: String, ExpressibleByArgument, CaseIterable { case tfjs, onnx }

    func run() throws {
        do {
            let bundle = try ModelBundle.read(from: model)
            switch format {
            case .tfjs: try TFJSExporter.export(bundle, to: out)
            case .onnx: try ONNXExporter.export(bundle, to: out)
            }
            print("exported \(format.rawValue): \(out)")
        } catch {
            throw Terminal.fail(error)
        }
    }
}
