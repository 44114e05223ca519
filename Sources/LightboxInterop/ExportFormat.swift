import Foundation

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

    /// Whether the export is a folder of files (a download zips it) rather than one file.
    public var writesFolder: Bool { self != .onnx }
}
