import Foundation
import LightboxInterop
import ZIPFoundation

/// The model bundle, its TF.js export (zipped), its Keras export (zipped keras_model.h5 and
/// labels.txt, as Teachable Machine's Keras download) and its ONNX export, made on request.
struct Downloads {
    let store: StudioStore
    /// The pretrained weights a MobileNetV2 model's export is built from.
    let weightsFolder: String

    /// Exports are made one at a time (each builds a model and a file of tens of megabytes).
    static let queue = DispatchQueue(label: "lightbox.studio.downloads", qos: .userInitiated)

    func file(run id: Int64, format name: String) throws -> (Data, String, String) {
        let run = try store.run(id)
        // The bundle itself, or one of the exports `lightbox export` writes (ExportFormat).
        let format = name == "bundle" ? nil : ExportFormat(rawValue: name)
        guard name == "bundle" || format != nil else {
            throw StudioError(.badRequest, "download format must be bundle, " + ExportFormat.allCases.map(\.rawValue).joined(separator: ", "))
        }
        guard run.status == .finished else { throw StudioError(.conflict, "run \(id) is \(run.status), not finished") }
        let model = store.runDirectory(id).appendingPathComponent("model")
        let work = FileManager.default.temporaryDirectory.appendingPathComponent("lightbox-download-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: work, withIntermediateDirectories: true, attributes: [.posixPermissions: 0o700])
        defer { try? FileManager.default.removeItem(at: work) }
        guard let format else {
            let zip = work.appendingPathComponent("model.zip")
            try FileManager.default.zipItem(at: model, to: zip, shouldKeepParent: true)
            return (try Data(contentsOf: zip), "lightbox-run-\(id)-model.zip", "application/zip")
        }
        if format.writesFolder {
            return try zipped({ try format.export($0, to: $1, weightsFolder: weightsFolder) }, model: model, work: work, name: "lightbox-run-\(id)-\(format.rawValue).zip")
        }
        let file = work.appendingPathComponent("model.\(format.rawValue)")
        try format.export(try ModelBundle.read(from: model.path), to: file.path, weightsFolder: weightsFolder)
        return (try Data(contentsOf: file), "lightbox-run-\(id).\(format.rawValue)", "application/octet-stream")
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
