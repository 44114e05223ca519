import Foundation
import LightboxCore

/// The formats a model bundle is exported to, shared by `lightbox export` and the Studio's
/// downloads: each case names its exporter once (`export`), and whether it writes a folder.
public enum ExportFormat: String, CaseIterable, Codable, Sendable {
    /// Teachable Machine's TF.js layout: a folder of model.json, weights.bin and metadata.json.
    case tfjs
    /// Keras's keras_model.h5 and labels.txt (a folder, or the .h5 file with labels.txt beside it).
    case keras
    /// One .onnx file.
    case onnx

    /// Writes `bundle` in this format to `path`; `weightsFolder` holds the pretrained weights
    /// a MobileNetV2 bundle was trained on (`PretrainedMobileNetV2.folder(in:)`).
    public func export(_ bundle: ModelBundle, to path: String, weightsFolder: String) throws {
        switch self {
        case .tfjs: try TFJSExporter.export(bundle, to: path, weightsFolder: weightsFolder)
        case .keras: try KerasExporter.export(bundle, to: path, weightsFolder: weightsFolder)
        case .onnx: try ONNXExporter.export(bundle, to: path, weightsFolder: weightsFolder)
        }
    }

    /// What an export to `path` writes, for the output checks made before any work: tfjs a
    /// folder, onnx a file, keras a folder or (`path` ending in .h5) the model and labels.txt beside it.
    public func outputs(at path: String) -> [(path: String, kind: OutputPath.Kind)] {
        switch self {
        case .tfjs: return [(path, .folder)]
        case .onnx: return [(path, .file)]
        case .keras:
            guard KerasExporter.writesFile(path) else { return [(path, .folder)] }
            return [(path, .file), (KerasExporter.labelsPath(besideModel: path), .file)]
        }
    }

    /// Whether the export is a folder of files (a download zips it) rather than one file.
    public var writesFolder: Bool { self != .onnx }
}
