import Foundation
import LightboxData
import LightboxImaging
import LightboxModels
import LightboxTraining
import ZIPFoundation

struct ImportBody: Decodable {
    var path: String
    var source: String?
}

/// Imports a data set already on the server's disk (class folders, covid-chestxray, CSV) into a
/// project, only from folders the operator allowed with --import-root.
struct Importer {
    let store: StudioStore
    let roots: [String]

    func run(projectId: Int64, body: ImportBody) throws -> [String: Any] {
        _ = try store.project(projectId)
        let path = URL(fileURLWithPath: body.path).standardizedFileURL.resolvingSymlinksInPath().path
        let allowed = roots.map { URL(fileURLWithPath: $0).standardizedFileURL.resolvingSymlinksInPath().path }
        guard allowed.contains(where: { path == $0 || path.hasPrefix($0.hasSuffix("/") ? $0 : $0 + "/") }) else {
            throw StudioError(.forbidden, roots.isEmpty ? "importing from the server's disk is off (start the server with --import-root DIR)"
                                                        : "\(body.path) is outside the allowed import folders")
        }
        let kind = try body.source.map { s -> SourceKind in
            guard let k = SourceKind(rawValue: s) else { throw StudioError(.badRequest, "source must be folders, covid-chestxray or csv") }
            return k
        }
        let dataset: Dataset
        do { dataset = try DatasetLoader.load(path, kind: kind) } catch { throw StudioError(.badRequest, "\(error)") }
        var classIds: [String: Int64] = [:]
        for (c, _) in try store.classes(projectId: projectId) { classIds[c.name] = c.id! }
        var skipped = dataset.skipped.map { ["item": $0.item, "reason": $0.reason] }
        var imported = 0
        for image in dataset.images {
            if classIds[image.label] == nil { classIds[image.label] = try store.addClass(projectId: projectId, name: image.label).id! }
            do {
                let data = try Data(contentsOf: URL(fileURLWithPath: image.path))
                _ = try store.addImage(projectId: projectId, classId: classIds[image.label]!, data: data,
                                       filename: (image.path as NSString).lastPathComponent,
                                       group: dataset.hasGroups ? image.group : nil)
                imported += 1
            } catch let e as StudioError where e.kind == .badRequest {
                skipped.append(["item": image.path, "reason": e.description])
            }
        }
        return ["imported": imported, "classes": classIds.count, "skipped": skipped]
    }
}

/// The test split's predictions of a finished run, with the stored image each row is.
enum TestPredictions {
    static func load(store: StudioStore, run id: Int64) throws -> [[String: Any]] {
        let run = try store.run(id)
        let file = store.runDirectory(id).appendingPathComponent("predictions.csv")
        guard let text = try? String(contentsOf: file, encoding: .utf8) else { throw StudioError(.notFound, "run \(id) has no predictions") }
        var bySHA: [String: Int64] = [:]
        for image in try store.images(projectId: run.projectId) { bySHA[image.sha256] = image.id! }
        var lines = text.split(separator: "\n").map(String.init)
        guard !lines.isEmpty else { return [] }
        let header = lines.removeFirst().split(separator: ",").map(String.init)
        let classes = header.filter { $0.hasPrefix("p_") }.map { String($0.dropFirst(2)) }
        return lines.map { line in
            let f = line.split(separator: ",", omittingEmptySubsequences: false).map(String.init)
            let sha = (f[0] as NSString).lastPathComponent
            var probabilities: [String: Double] = [:]
            for (k, c) in classes.enumerated() { probabilities[c] = Double(f[3 + k]) ?? 0 }
            return ["imageId": bySHA[sha].map { $0 as Any } ?? NSNull(), "label": f[2], "predicted": f.last ?? "", "probabilities": probabilities]
        }
    }
}

/// Classifies an uploaded picture with a run's model, with its heatmap.
struct PredictionService {
    let runs: RunManager

    func predict(run id: Int64, data: Data) throws -> [String: Any] {
        let predictor = try runs.predictor(run: id)
        guard ImageFormat(sniffing: [UInt8](data.prefix(8))) != nil else {
            throw StudioError(.badRequest, "the upload is not a PNG or JPEG image")
        }
        let file = FileManager.default.temporaryDirectory.appendingPathComponent("lightbox-predict-\(UUID().uuidString)")
        defer { try? FileManager.default.removeItem(at: file) }
        try data.write(to: file)
        let (p, heatmap): (Predictor.Prediction, Data)
        do { (p, heatmap) = try predictor.predictWithHeatmap(file.path) } catch { throw StudioError(.badRequest, "\(error)") }
        return ["predicted": predictor.classes[p.predicted],
                "probabilities": Dictionary(uniqueKeysWithValues: zip(predictor.classes, p.probabilities.map(Double.init))),
                "heatmap": "data:image/png;base64," + heatmap.base64EncodedString(),
                "disclaimer": ModelBundle.disclaimer]
    }
}

/// The model bundle, its TF.js export (zipped) and its ONNX export, made on request.
struct Downloads {
    let store: StudioStore

    func file(run id: Int64, format: String) throws -> (Data, String, String) {
        let run = try store.run(id)
        guard run.status == "finished" else { throw StudioError(.conflict, "run \(id) is \(run.status), not finished") }
        let model = store.runDirectory(id).appendingPathComponent("model")
        let work = FileManager.default.temporaryDirectory.appendingPathComponent("lightbox-download-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: work, withIntermediateDirectories: true)
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
        case "onnx":
            let file = work.appendingPathComponent("model.onnx")
            try ONNXExporter.export(try ModelBundle.read(from: model.path), to: file.path)
            return (try Data(contentsOf: file), "lightbox-run-\(id).onnx", "application/octet-stream")
        default:
            throw StudioError(.badRequest, "download format must be bundle, tfjs or onnx")
        }
    }
}
