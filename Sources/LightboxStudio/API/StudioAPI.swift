import Foundation
import Hummingbird
import LightboxCore
import LightboxData
import LightboxImaging
import LightboxModels
import LightboxWorkflows

/// Studio settings from the command line.
public struct StudioSettings: Sendable {
    public var dataDirectory: URL
    /// The token every `/api/` request must prove; `StudioAccess(token: nil)` only for
    /// `--no-token` on loopback (`lightbox serve` enforces that).
    public var access: StudioAccess
    /// The port browsers reach the server on (the bound one, when `--port 0` picked it).
    public var port = 8080
    /// Host names besides loopback that requests may name (`--allow-host`), as "name" or "name:port".
    public var allowedHosts: [String] = []
    /// Largest accepted request body (an uploaded image).
    public var maxUploadBytes = 32 << 20
    /// Folders whose data sets may be imported from the server's disk (none: import disabled).
    public var importRoots: [String] = []
    /// A covid-chestxray-dataset folder (metadata.csv and images) the sample project is taken
    /// from (`--sample-data`, else `$LIGHTBOX_DATA` when it is one); nil: the cached public copy,
    /// downloaded from `runSettings.dataURL` when it is missing.
    public var sampleData: String?
    /// Memory all image decodes in flight may take together; one picture needing more is refused.
    public var decodeMemoryBytes = 1 << 30
    /// Image decodes run at once (uploads, predictions, heatmaps).
    public var decodeConcurrency = 2
    /// Largest picture accepted, in pixels.
    public var maxPixels = 50_000_000
    /// A connection that sends no complete request part for this long is closed (this also
    /// bounds how long request headers may take to arrive).
    public var idleTimeoutSeconds = 30
    /// The run context its training, predictions and exports use: the cache (pretrained weights,
    /// embeddings), the pixel limit of training pictures, threads. Built by the executable.
    public var runSettings: LightboxSettings

    public init(dataDirectory: URL, access: StudioAccess, runSettings: LightboxSettings) {
        self.dataDirectory = dataDirectory
        self.access = access
        self.runSettings = runSettings
    }
}

/// The REST API under `/api/` and the page at `/`: routes only parse and call the store, the
/// run manager and the services. Errors come back as `{"error": "message"}` with a status.
public struct StudioAPI: Sendable {
    public let settings: StudioSettings
    public let store: StudioStore
    public let runs: RunManager
    let gate: DecodeGate
    let bound: BoundPort
    /// Where the sample project's data set is, and its download.
    let sample: SampleData
    /// Browsers logged in to this process.
    let sessions = StudioSessions()
    /// Every route `router()` registered (for the OpenAPI check).
    let routeLog = RouteLog()

    public init(settings: StudioSettings) throws {
        self.settings = settings
        store = try StudioStore(directory: settings.dataDirectory)
        try store.markInterruptedRuns()
        runs = RunManager(store: store, settings: settings.runSettings)
        gate = DecodeGate(budgetBytes: settings.decodeMemoryBytes, concurrency: settings.decodeConcurrency, maxPixels: settings.maxPixels)
        bound = BoundPort(settings.port)
        sample = SampleData(settings: settings)
    }

    /// Called once the socket is bound, with the port it got.
    func listening(on port: Int) { bound.port = port }

    public func router() -> Router<StudioRequestContext> {
        let router = Router(context: StudioRequestContext.self)
        router.add(middleware: SecurityHeaders())
        router.add(middleware: ErrorMiddleware())
        router.add(middleware: RequestGuard(access: settings.access, sessions: sessions, allowedHosts: settings.allowedHosts.map { $0.lowercased() }, bound: bound))
        addPage(router)
        router.get("/api/openapi.json") { _, _ in
            Self.raw(Data(OpenAPIDocument.json(cookieName: StudioAccess.cookieName(port: bound.port)).utf8), type: "application/json")
        }
        routeLog.record(method: "GET", path: "/api/openapi.json")
        let api = APIRoutes(group: router.group("api").add(middleware: APIAuthentication(access: settings.access, sessions: sessions, bound: bound)),
                            log: routeLog)
        addSession(api)
        addProjects(api)
        addImages(api)
        addRuns(api)
        return router
    }

    // MARK: the page and logging in

    func addPage(_ router: Router<StudioRequestContext>) {
        // `/?token=T` is the login URL `lightbox serve` prints: it trades the token for the
        // session cookie and sends the browser on to the page (a #project=N fragment stays).
        router.get("/") { request, _ in
            guard let given = request.uri.queryParameters.get("token") else { return StudioPage.response(.html) }
            guard let token = settings.access.token, StudioAccess.constantTimeEqual(given, token) else {
                var response = Self.raw(Data("This login link's token is wrong. Open the URL that lightbox serve printed.\n".utf8), type: "text/plain; charset=utf-8")
                response.status = .unauthorized
                return response
            }
            var response = Response(status: .seeOther, headers: [.location: "/"])
            response.setCookie(sessionCookie(sessions.start()))
            return response
        }
        router.get("/static/studio.js") { _, _ in StudioPage.response(.script) }
        router.get("/static/studio.css") { _, _ in StudioPage.response(.style) }
    }

    /// The cookie of session `id`; nil: one that makes the browser forget it.
    func sessionCookie(_ id: String?) -> Cookie {
        Cookie(name: StudioAccess.cookieName(port: bound.port), value: id ?? "",
               maxAge: id == nil ? 0 : nil, path: "/", httpOnly: true, sameSite: .strict)
    }

    func addSession(_ api: APIRoutes) {
        // With `Authorization: Bearer TOKEN` (the page's login box): a session, as the URL gives.
        api.post("session") { _, _ in
            var response = Response(status: .noContent)
            response.setCookie(sessionCookie(sessions.start()))
            return response
        }
        // Logging out ends the session here, not only in the browser.
        api.delete("session") { request, _ in
            if let id = request.cookies[StudioAccess.cookieName(port: bound.port)]?.value { sessions.end(id) }
            var response = Response(status: .noContent)
            response.setCookie(sessionCookie(nil))
            return response
        }
        api.get("options") { _, _ in try Self.json(Self.studioOptionRules) }
    }

    /// The training options' rules as the Studio takes them: the design (`folds`, `testSplit`) is
    /// the Studio's to choose, so a request may not set it (`RunOptions.refuseWhatTheStudioChooses`),
    /// and its rules say so as the command line's own options do.
    static var studioOptionRules: OptionsResponse {
        TrainingOptionRules.rules.map { rule in
            var r = rule
            if [.folds, .testSplit].contains(r.key) { r.commandLineOnly = true }
            return r
        }
    }

    // MARK: projects, classes and images

    func addProjects(_ api: APIRoutes) {
        api.get("projects") { _, _ in try Self.json(try store.projects().map(ProjectResponse.init)) }
        api.post("projects") { request, context in
            var request = request
            let body = try await request.decodeJSON(as: NameBody.self, context: context)
            return try Self.json(ProjectResponse(try store.createProject(name: body.name)), status: .created)
        }
        api.get("projects/:project") { _, context in
            try Self.json(try projectDetail(try context.parameters.require("project", as: Int64.self)))
        }
        api.delete("projects/:project") { _, context in
            let id = try context.parameters.require("project", as: Int64.self)
            let runIds = try store.runs(projectId: id).compactMap(\.id)
            try store.deleteProject(id)
            runs.forget(runIds)
            return Response(status: .noContent)
        }
        api.post("projects/:project/classes") { request, context in
            let id = try context.parameters.require("project", as: Int64.self)
            var request = request
            let body = try await request.decodeJSON(as: NameBody.self, context: context)
            let c = try store.addClass(projectId: id, name: body.name)
            return try Self.json(ClassResponse(id: c.id!, name: c.name, images: 0), status: .created)
        }
        api.patch("projects/:project/classes/:class") { request, context in
            let project = try context.parameters.require("project", as: Int64.self)
            let cls = try context.parameters.require("class", as: Int64.self)
            var request = request
            let body = try await request.decodeJSON(as: NameBody.self, context: context)
            let c = try store.renameClass(cls, in: project, to: body.name)
            return try Self.json(ClassResponse(id: c.id!, name: c.name, images: try store.images(projectId: project, classId: cls).count))
        }
        api.delete("projects/:project/classes/:class") { _, context in
            try store.deleteClass(try context.parameters.require("class", as: Int64.self),
                                  in: try context.parameters.require("project", as: Int64.self))
            return Response(status: .noContent)
        }
        api.get("import/roots") { _, _ in try Self.json(ImportRootsResponse(roots: settings.importRoots)) }
        // The sample project: nothing in the request chooses a path, a URL or a picture.
        api.get("sample-project") { _, _ in
            let sample = self.sample
            return try Self.json(try await Offload.run { sample.status() })
        }
        api.post("sample-project") { _, _ in
            let sample = self.sample
            guard let directory = sample.directory else {
                sample.startDownload()
                return try Self.json(sample.status(), status: .accepted)
            }
            let importer = Importer(store: store, roots: [directory], gate: gate, maxFileBytes: settings.maxUploadBytes)
            return try Self.json(try await Offload.run(on: Importer.queue) {
                try importer.importSample(try sample.pictures(in: directory), from: directory)
            }, status: .created)
        }
        api.post("projects/:project/import") { request, context in
            let id = try context.parameters.require("project", as: Int64.self)
            var request = request
            let body = try await request.decodeJSON(as: ImportBody.self, context: context)
            let importer = Importer(store: store, roots: settings.importRoots, gate: gate, maxFileBytes: settings.maxUploadBytes)
            return try Self.json(try await Offload.run(on: Importer.queue) { try importer.run(projectId: id, body: body) })
        }
    }

    func addImages(_ api: APIRoutes) {
        api.get("projects/:project/classes/:class/images") { _, context in
            let project = try context.parameters.require("project", as: Int64.self)
            let cls = try context.parameters.require("class", as: Int64.self)
            _ = try store.classRecord(cls, in: project)
            let shared = try store.classesSharingPictures(projectId: project)
            return try Self.json(try store.images(projectId: project, classId: cls).map { image in
                ImageResponse(image, alsoIn: Self.otherClasses(shared[image.sha256], than: cls))
            })
        }
        // One image per request, the raw bytes as the body; ?filename= names it. Decoded
        // (within the decoding budget, off the request threads) before anything is stored.
        api.post("projects/:project/classes/:class/images") { request, context in
            let project = try context.parameters.require("project", as: Int64.self)
            let cls = try context.parameters.require("class", as: Int64.self)
            _ = try store.classRecord(cls, in: project)
            var request = request
            let data = Data(try await request.collectBody(upTo: settings.maxUploadBytes).readableBytesView)
            let name = StudioStore.displayName(request.uri.queryParameters.get("filename") ?? "upload")
            let bytes = [UInt8](data)
            let size = try await gate.decode(bytes, name: name, stillWanted: await context.clientStillWaiting())
            let image = try store.addImage(projectId: project, classId: cls, data: data, filename: name,
                                           width: size.width, height: size.height, group: try store.patientGroup(of: bytes, name: name))
            let alsoIn = try store.otherClassesHolding(image.sha256, projectId: project, besides: cls)
            return try Self.json(ImageResponse(image, alsoIn: alsoIn), status: .created)
        }
        api.get("images/:image") { _, context in
            let image = try store.image(try context.parameters.require("image", as: Int64.self))
            let data = try Data(contentsOf: store.imagePath(image))
            let bytes = [UInt8](data.prefix(132))
            switch ImageFormat(sniffing: bytes) {
            case .png: return Self.raw(data, type: "image/png")
            case .dicom:
                // Browsers do not show DICOM: the picture as the model sees its values, as a PNG.
                let all = [UInt8](data), decoder = gate.decoder
                let png = try await gate.admit(all, name: image.filename, stillWanted: await context.clientStillWaiting()) {
                    try DecodeGate.badRequest { try PNGEncoder.encode(try decoder.decode(data: all, path: image.filename)) }
                }
                return Self.raw(png, type: "image/png")
            default: return Self.raw(data, type: "image/jpeg")
            }
        }
        api.delete("images/:image") { _, context in
            try store.deleteImage(try context.parameters.require("image", as: Int64.self))
            return Response(status: .noContent)
        }
    }

    // MARK: runs

    func addRuns(_ api: APIRoutes) {
        api.post("projects/:project/runs") { request, context in
            let id = try context.parameters.require("project", as: Int64.self)
            var request = request
            let options = try await request.decodeJSON(as: RunOptions.self, context: context)
            let run = try runs.start(projectId: id, options: options)
            return try Self.json(runResponse(try store.run(run.id!)), status: .accepted)
        }
        api.get("projects/:project/runs") { _, context in
            let project = try context.parameters.require("project", as: Int64.self)
            _ = try store.project(project)
            return try Self.json(try store.runs(projectId: project).map(RunSummaryResponse.init))
        }
        api.get("runs/:run") { _, context in
            let run = try store.run(try context.parameters.require("run", as: Int64.self))
            return try Self.json(runResponse(run))
        }
        api.delete("runs/:run") { _, context in
            let id = try context.parameters.require("run", as: Int64.self)
            try store.deleteRun(id)
            runs.forget([id])
            return Response(status: .noContent)
        }
        api.post("runs/:run/cancel") { _, context in
            let run = try runs.cancel(try context.parameters.require("run", as: Int64.self))
            return try Self.json(runResponse(run), status: .accepted)
        }
        api.get("runs/:run/report") { _, context in
            let id = try context.parameters.require("run", as: Int64.self)
            let file = store.runDirectory(id).appendingPathComponent("report.html")
            guard let data = FileManager.default.contents(atPath: file.path) else { throw StudioError(.notFound, "run \(id) has no report") }
            var response = Self.raw(data, type: "text/html; charset=utf-8")
            // The report is self-contained: inline styles and data: pictures, never a script.
            response.headers[.contentSecurityPolicy] = "default-src 'none'; style-src 'unsafe-inline'; img-src data:; frame-ancestors 'none'"
            return response
        }
        api.get("runs/:run/predictions") { _, context in
            let id = try context.parameters.require("run", as: Int64.self)
            return try Self.json(try TestPredictions.load(store: store, run: id))
        }
        api.post("runs/:run/predict") { request, context in
            let id = try context.parameters.require("run", as: Int64.self)
            let heatmap = try PredictionService.heatmapWanted(request.uri.queryParameters.getAll("heatmap"))
            var request = request
            let data = Data(try await request.collectBody(upTo: settings.maxUploadBytes).readableBytesView)
            let result = try await PredictionService(runs: runs, gate: gate).predict(run: id, data: data, heatmap: heatmap,
                                                                                    stillWanted: await context.clientStillWaiting())
            return try Self.json(result)
        }
        // A stored image through a finished run's model (a scored picture's through the model that
        // scored it): its heatmap over the model's input.
        api.get("runs/:run/heatmap/:image") { _, context in
            let id = try context.parameters.require("run", as: Int64.self)
            let image = try store.image(try context.parameters.require("image", as: Int64.self))
            // A picture the run scored out of fold: through its fold's model (the answer its cell counts).
            let fold = (try? TestPredictions.load(store: store, run: id))?.first { $0.imageId == image.id }?.fold
            let png = try await PredictionService(runs: runs, gate: gate).heatmap(run: id, imagePath: store.imagePath(image), fold: fold,
                                                                            stillWanted: await context.clientStillWaiting())
            return Self.raw(png, type: "image/png")
        }
        api.get("runs/:run/download/:format") { _, context in
            let id = try context.parameters.require("run", as: Int64.self)
            let format = try context.parameters.require("format")
            let store = self.store
            let (data, name, type) = try await Offload.run(on: Downloads.queue) { try Downloads(store: store, weightsFolder: PretrainedMobileNetV2.folder(in: settings.runSettings)).file(run: id, format: format) }
            var response = Self.raw(data, type: type)
            response.headers[.contentDisposition] = "attachment; filename=\"\(name)\""
            return response
        }
    }

    // MARK: response bodies (their types are in Responses.swift)

    /// A run, with the progress this process holds for it when it is training here.
    func runResponse(_ run: RunRecord) -> RunResponse { RunResponse(run, live: runs.progress(run.id!)) }

    /// A project with its classes (and how many images each holds) and its runs.
    func projectDetail(_ id: Int64) throws -> ProjectDetailResponse {
        let project = ProjectResponse(try store.project(id))
        let classes = try store.classes(projectId: id).map { ClassResponse(id: $0.0.id!, name: $0.0.name, images: $0.1) }
        return ProjectDetailResponse(project: project, classes: classes, runs: try store.runs(projectId: id).map(runResponse),
                                     design: try runs.design(projectId: id))
    }

    /// The names of the classes besides `classId` in a picture's entry of `classesSharingPictures`.
    static func otherClasses(_ holders: [Int64: String]?, than classId: Int64) -> [String] {
        (holders ?? [:]).filter { $0.key != classId }.sorted { $0.key < $1.key }.map(\.value)
    }

    static func json<T: Encodable>(_ body: T, status: HTTPResponse.Status = .ok) throws -> Response {
        var response = raw(try ResponseJSON.encode(body), type: "application/json")
        response.status = status
        return response
    }

    static func raw(_ data: Data, type: String) -> Response {
        Response(status: .ok, headers: [.contentType: type], body: .init(byteBuffer: ByteBuffer(bytes: data)))
    }
}

struct NameBody: Decodable { var name: String }
