import ArgumentParser
import Foundation
import LightboxCore
import LightboxInterop
import LightboxModels

struct Export: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Export a trained model: Teachable Machine's TF.js format (tfjs), Keras (keras) or ONNX (onnx).",
        discussion: """
            tfjs: a folder (model.json, weights.bin, metadata.json). keras: keras_model.h5 and labels.txt, as \
            Teachable Machine's Keras download (OUT ending in .h5 is the model file, labels.txt goes beside it; \
            otherwise OUT is a folder for both). onnx: one .onnx file. Everything is written atomically \
            (built beside the target, swapped in with one rename).
            """)

    @Option(help: "The model bundle (a run's model/ folder, or a zip of it such as the Studio's download).")
    var model: String

    @Option(help: "Export format: tfjs (a folder), keras (keras_model.h5 + labels.txt) or onnx (one .onnx file).")
    var format: ExportFormat

    @Option(help: "Output folder (tfjs; keras unless it ends in .h5) or file (onnx; keras ending in .h5).")
    var out: String

    func run() throws {
        try Terminal.run {
            for output in format.outputs(at: out) { try OutputPath.check(output.path, as: output.kind) }
            let bundle = try ModelBundle.read(from: model)
            try bundle.checkExportable(model: model)
            if let steps = bundle.stepsOutsideExport { Terminal.note("warning: \(steps) (recorded in the export's metadata)") }
            try format.export(bundle, to: out, weightsFolder: PretrainedMobileNetV2.folder(in: Lightbox.settings))
            print("exported \(format.rawValue): \(out)")
        }
    }
}
