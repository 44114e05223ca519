import Foundation
import LightboxTraining
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
            let folder = work.appendingPathComponent("tfjs")
            try TFJSExporter.export(try ModelBundle.read(from: model.path), to: folder.path)
            let zip = work.appendingPathComponent("tfjs.zip")
            try FileManager.default.zipItem(at: folder, to: zip, shouldKeepParent: false)
            return (try Data(contentsOf: zip), "lightbox-run-\(id)-tfjs.zip", "application/zip")
        case "keras":
            let folder = work.appendingPathComponent("keras")
            try KerasExporter.export(try ModelBundle.read(from: model.path), to: folder.path)
            let zip = work.appendingPathComponent("keras.zip")
            try FileManager.default.zipItem(at: folder, to: zip, shouldKeepParent: false)
            return (try Data(contentsOf: zip), "lightbox-run-\(id)-keras.zip", "application/zip")
        default:
            let file = work.appendingPathComponent("model.onnx")
            try ONNXExporter.export(try ModelBundle.read(from: model.path), to: file.path)
            return (try Data(contentsOf: file), "lightbox-run-\(id).onnx", "application/octet-stream")
        }
    }
}
