import Foundation
import LightboxInterop
import ZIPFoundation

/// The model bundle, its TF.js export (zipped), its Keras export (zipped keras_model.h5 and
/// labels.txt, as Teachable Machine's Keras download) and its ONNX export, made on request.
struct Downloads {
    let store: StudioStore

    /// Exports are made one at a time (each builds a model and a file of tens of megabytes).
    static let queue = DispatchQueue(label: "lightbox.studio.downloads", qos: .userInitiated)

    func file(run id: Int64, format: String) throws -> (Data, String, String) {
        let run = try store.run(id)
        guard ["bundle", "tfjs", "keras", "onnx"].contains(format) else { throw StudioError(.badRequest, "download format must be bundle, tfjs, keras or onnx") }
        guard run.status == .finished else { throw StudioError(.conflict, "run \(id) is \(run.status), not finished") }
        let model = store.runDirectory(id).appendingPathComponent("model")
        let work = FileManager.default.temporaryDirectory.appendingPathComponent("lightbox-download-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: work, withIntermediateDirectories: true, attributes: [.posixPermissions: 0o700])
        defer { try? FileManager.default.removeItem(at: work) }
        switch format {
        case "bundle":
            let zip = work.appendingPathComponent("model.zip")
            try FileManager.default.zipItem(at: model, to: zip, shouldKeepParent: true)
            return (try Data(contentsOf: zip), "lightbox-run-\(id)-model.zip", "application/zip")
        case "tfjs":
            return try zipped(TFJSExporter.export, model: model, work: work, name: "lightbox-run-\(id)-tfjs.zip")
        case "keras":
            return try zipped(KerasExporter.export, model: model, work: work, name: "lightbox-run-\(id)-keras.zip")
        default:
            let file = work.appendingPathComponent("model.onnx")
            try ONNXExporter.export(try ModelBundle.read(from: model.path), to: file.path)
            return (try Data(contentsOf: file), "lightbox-run-\(id).onnx", "application/octet-stream")
        }
    }

    /// A folder export (`export` writing into a folder) as one zip of that folder's files.
    private func zipped(_ export: (ModelBundle, String) throws -> Void, model: URL, work: URL, name: String) throws
        -> (Data, String, String) {
        let folder = work.appendingPathComponent("export")
        try export(try ModelBundle.read(from: model.path), folder.path)
        let zip = work.appendingPathComponent("export.zip")
        try FileManager.default.zipItem(at: folder, to: zip, shouldKeepParent: false)
        return (try Data(contentsOf: zip), name, "application/zip")
    }
}
