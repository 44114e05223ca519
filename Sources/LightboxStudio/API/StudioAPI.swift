import Foundation
import Hummingbird
import LightboxData
import LightboxImaging
import LightboxModels
import LightboxTraining
import ZIPFoundation

/// Studio settings from the command line.
public struct StudioSettings: Sendable {
    public var dataDirectory: URL
    /// When set, every `/api/` request needs `Authorization: Bearer TOKEN`.
    public var token: String?
    /// Largest accepted request body (an uploaded image).
    public var maxUploadBytes = 32 << 20
    /// Folders whose data sets may be imported from the server's disk (none: import disabled).
    public var importRoots: [String] = []

    public init(dataDirectory: URL) {
        self.dataDirectory = dataDirectory
    }
}

/// The REST API under `/api/` and the page at `/`: routes only parse and call the store and the
/// run manager. Errors come back as `{"error": "message"}` with a status.
public struct StudioAPI: Sendable {
    public let settings: StudioSettings
    public let store: StudioStore
    public let runs: RunManager

    public init(settings: StudioSettings) throws {
        self.settings = settings
        store = try StudioStore(directory: settings.dataDirectory)
        try store.markInterruptedRuns()
        runs = RunManager(store: store)
    }

    public func router() -> Router<BasicRequestContext> {
        let router = Router(context: BasicRequestContext.self)
        router.add(middleware: ErrorMiddleware())
        router.add(middleware: TokenMiddleware(token: settings.token))
        router.get("/") { _, _ in Self.html(StudioPage.html) }
        router.get("/api/openapi.json") { _, _ in Self.raw(Data(OpenAPIDocument.json.utf8), type: "application/json") }

        router.get("/api/projects") { _, _ in try Self.json(try store.projects().map(ProjectDTO.init)) }
        router.post("/api/projects") { request, context in
            let body = try await request.decode(as: NameBody.self, context: context)
            return try Self.json(ProjectDTO(try store.createProject(name: body.name)), status: .created)
        }
        router.get("/api/projects/:project") { _, context in
            let id = try context.parameters.require("project", as: Int64.self)
            let project = try store.project(id)
            let classes = try store.classes(projectId: id).map { ["id": $0.0.id!, "name": $0.0.name, "images": $0.1] as [String: Any] }
            let iso = ISO8601DateFormatter()
            return try Self.object([
                "project": ["id": id, "name": project.name, "created": iso.string(from: project.created)],
                "classes": classes,
                "runs": try store.runs(projectId: id).map { RunDTO($0, live: runs.progress($0.id!)).object },
            ])
        }
        router.delete("/api/projects/:project") { _, context in
            try store.deleteProject(try context.parameters.require("project", as: Int64.self))
            return Response(status: .noContent)
        }
        router.post("/api/projects/:project/classes") { request, context in
            let id = try context.parameters.require("project", as: Int64.self)
            let body = try await request.decode(as: NameBody.self, context: context)
            let c = try store.addClass(projectId: id, name: body.name)
            return try Self.json(ClassDTO(id: c.id!, name: c.name, images: 0), status: .created)
        }
        router.get("/api/projects/:project/classes/:class/images") { _, context in
            let project = try context.parameters.require("project", as: Int64.self)
            let cls = try context.parameters.require("class", as: Int64.self)
            _ = try store.classRecord(cls, in: project)
            return try Self.json(try store.images(projectId: project, classId: cls).map(ImageDTO.init))
        }
        // One image per request, the raw bytes as the body; ?filename= names it.
        router.post("/api/projects/:project/classes/:class/images") { request, context in
            let project = try context.parameters.require("project", as: Int64.self)
            let cls = try context.parameters.require("class", as: Int64.self)
            var request = request
            let buffer = try await request.collectBody(upTo: settings.maxUploadBytes)
            let name = request.uri.queryParameters.get("filename") ?? "upload"
            let image = try store.addImage(projectId: project, classId: cls, data: Data(buffer.readableBytesView), filename: name)
            return try Self.json(ImageDTO(image), status: .created)
        }
        router.get("/api/images/:image") { _, context in
            let image = try store.image(try context.parameters.require("image", as: Int64.self))
            let data = try Data(contentsOf: store.imagePath(image))
            let type = ImageFormat(sniffing: [UInt8](data.prefix(8))) == .png ? "image/png" : "image/jpeg"
            return Self.raw(data, type: type)
        }
        router.delete("/api/images/:image") { _, context in
            try store.deleteImage(try context.parameters.require("image", as: Int64.self))
            return Response(status: .noContent)
        }
        router.post("/api/projects/:project/import") { request, context in
            let id = try context.parameters.require("project", as: Int64.self)
            let body = try await request.decode(as: ImportBody.self, context: context)
            return try Self.object(try Importer(store: store, roots: settings.importRoots).run(projectId: id, body: body))
        }
        router.post("/api/projects/:project/runs") { request, context in
            let id = try context.parameters.require("project", as: Int64.self)
            let options = try await request.decode(as: RunOptions.self, context: context)
            let run = try runs.start(projectId: id, options: options)
            return try Self.object(RunDTO(run, live: runs.progress(run.id!)).object, status: .accepted)
        }
        router.get("/api/runs/:run") { _, context in
            let run = try store.run(try context.parameters.require("run", as: Int64.self))
            return try Self.object(RunDTO(run, live: runs.progress(run.id!)).object)
        }
        router.get("/api/runs/:run/report") { _, context in
            let id = try context.parameters.require("run", as: Int64.self)
            let file = store.runDirectory(id).appendingPathComponent("report.html")
            guard let data = FileManager.default.contents(atPath: file.path) else { throw StudioError(.notFound, "run \(id) has no report") }
            return Self.raw(data, type: "text/html; charset=utf-8")
        }
        router.get("/api/runs/:run/predictions") { _, context in
            let id = try context.parameters.require("run", as: Int64.self)
            return try Self.object(try TestPredictions.load(store: store, run: id))
        }
        router.post("/api/runs/:run/predict") { request, context in
            let id = try context.parameters.require("run", as: Int64.self)
            var request = request
            let buffer = try await request.collectBody(upTo: settings.maxUploadBytes)
            return try Self.object(try PredictionService(runs: runs).predict(run: id, data: Data(buffer.readableBytesView)))
        }
        // A stored image through a finished run's model: its heatmap over the model's input.
        router.get("/api/runs/:run/heatmap/:image") { _, context in
            let id = try context.parameters.require("run", as: Int64.self)
            let image = try store.image(try context.parameters.require("image", as: Int64.self))
            let (_, png) = try runs.predictor(run: id).predictWithHeatmap(store.imagePath(image).path)
            return Self.raw(png, type: "image/png")
        }
        router.get("/api/runs/:run/download/:format") { _, context in
            let id = try context.parameters.require("run", as: Int64.self)
            let format = try context.parameters.require("format")
            let (data, name, type) = try Downloads(store: store).file(run: id, format: format)
            var response = Self.raw(data, type: type)
            response.headers[.contentDisposition] = "attachment; filename=\"\(name)\""
            return response
        }
        return router
    }

    // MARK: responses

    static func json<T: Encodable>(_ value: T, status: HTTPResponse.Status = .ok) throws -> Response {
        let encoder = JSONEncoder()
        encoder.dateEncodingStrategy = .iso8601
        var response = raw(try encoder.encode(value), type: "application/json")
        response.status = status
        return response
    }

    static func object(_ value: Any, status: HTTPResponse.Status = .ok) throws -> Response {
        var response = raw(try JSONSerialization.data(withJSONObject: value, options: [.sortedKeys, .withoutEscapingSlashes]),
                           type: "application/json")
        response.status = status
        return response
    }

    static func raw(_ data: Data, type: String) -> Response {
        Response(status: .ok, headers: [.contentType: type], body: .init(byteBuffer: ByteBuffer(bytes: data)))
    }

    static func html(_ text: String) -> Response { raw(Data(text.utf8), type: "text/html; charset=utf-8") }
}

struct NameBody: Decodable { var name: String }

struct ProjectDTO: Codable {
    var id: Int64
    var name: String
    var created: Date
    init(_ p: Project) { id = p.id!; name = p.name; created = p.created }
}

struct ClassDTO: Codable { var id: Int64; var name: String; var images: Int }

struct ImageDTO: Codable {
    var id: Int64, classId: Int64, filename: String, width: Int, height: Int
    init(_ i: ImageRecord) { id = i.id!; classId = i.classId; filename = i.filename; width = i.width; height = i.height }
}

/// A run as the API shows it: a JSON object with metrics.json embedded as JSON.
struct RunDTO {
    let object: [String: Any]

    init(_ r: RunRecord, live: RunProgress?) {
        let iso = ISO8601DateFormatter()
        var o: [String: Any] = ["id": r.id!, "projectId": r.projectId, "status": r.status, "created": iso.string(from: r.created)]
        if let f = r.finished { o["finished"] = iso.string(from: f) }
        if let e = r.error { o["error"] = e }
        let progress = live.flatMap { try? JSONEncoder().encode($0) } ?? r.progress.map { Data($0.utf8) }
        if let progress, let p = try? JSONSerialization.jsonObject(with: progress) { o["progress"] = p }
        if let m = r.metrics, let parsed = try? JSONSerialization.jsonObject(with: Data(m.utf8)) { o["metrics"] = parsed }
        object = o
    }
}
