import Foundation
import Hummingbird
import HummingbirdTesting
import XCTest
@testable import LightboxStudio

/// The REST API through Hummingbird's test client (no sockets), on a fresh data directory.
final class StudioAPITests: XCTestCase {
    static let shared = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
        .deletingLastPathComponent().deletingLastPathComponent().appendingPathComponent("shared")
    var directory: URL!

    override func setUpWithError() throws {
        directory = FileManager.default.temporaryDirectory.appendingPathComponent("studio-\(UUID().uuidString)")
    }

    override func tearDownWithError() throws { try? FileManager.default.removeItem(at: directory) }

    func app(token: String? = nil, importRoots: [String] = [], maxUpload: Int = 32 << 20) throws -> some ApplicationProtocol {
        var settings = StudioSettings(dataDirectory: directory)
        settings.token = token
        settings.importRoots = importRoots
        settings.maxUploadBytes = maxUpload
        return Application(router: try StudioAPI(settings: settings).router())
    }

    static func json(_ response: TestResponse) throws -> Any {
        try JSONSerialization.jsonObject(with: Data(response.body.readableBytesView))
    }

    static func body(_ object: Any) throws -> ByteBuffer {
        ByteBuffer(bytes: try JSONSerialization.data(withJSONObject: object))
    }

    static let jsonHeaders: HTTPFields = [.contentType: "application/json"]

    func xray(_ name: String) throws -> ByteBuffer {
        ByteBuffer(bytes: try Data(contentsOf: Self.shared.appendingPathComponent("data/covid-chestxray/images/\(name)")))
    }

    func testProjectsClassesAndUploads() async throws {
        let xrays = [try xray("000001-2.jpg"), try xray("00870a9c.jpg")]
        try await app().test(.router) { client in
            try await client.execute(uri: "/api/projects", method: .post, headers: Self.jsonHeaders, body: try Self.body(["name": "chest"])) { r in
                XCTAssertEqual(r.status, .created)
                XCTAssertEqual((try Self.json(r) as? [String: Any])?["id"] as? Int, 1)
            }
            try await client.execute(uri: "/api/projects", method: .post, headers: Self.jsonHeaders, body: try Self.body(["name": " "])) { r in
                XCTAssertEqual(r.status, .badRequest)
                XCTAssertNotNil((try Self.json(r) as? [String: Any])?["error"])
            }
            try await client.execute(uri: "/api/projects/1/classes", method: .post, headers: Self.jsonHeaders,
                                     body: try Self.body(["name": "COVID-19"])) { XCTAssertEqual($0.status, .created) }
            try await client.execute(uri: "/api/projects/1/classes", method: .post, headers: Self.jsonHeaders,
                                     body: try Self.body(["name": "COVID-19"])) { XCTAssertEqual($0.status, .conflict) }
            for x in xrays {
                try await client.execute(uri: "/api/projects/1/classes/1/images?filename=a.jpg", method: .post, body: x) { r in
                    XCTAssertEqual(r.status, .created)
                }
            }
            // Not an image: refused after decoding, with the reason.
            try await client.execute(uri: "/api/projects/1/classes/1/images?filename=../../etc/passwd", method: .post,
                                     body: ByteBuffer(string: "root:x:0:0")) { r in
                XCTAssertEqual(r.status, .badRequest)
                XCTAssertTrue(((try Self.json(r) as? [String: Any])?["error"] as? String ?? "").contains("not a PNG or JPEG"))
            }
            try await client.execute(uri: "/api/projects/1", method: .get) { r in
                let d = try Self.json(r) as! [String: Any]
                XCTAssertEqual((d["classes"] as! [[String: Any]])[0]["images"] as? Int, 2)
            }
            try await client.execute(uri: "/api/images/1", method: .get) { r in
                XCTAssertEqual(r.headers[.contentType], "image/jpeg")
                XCTAssertEqual(r.body.readableBytes, xrays[0].readableBytes)
            }
            try await client.execute(uri: "/api/projects/9", method: .get) { XCTAssertEqual($0.status, .notFound) }
            try await client.execute(uri: "/api/openapi.json", method: .get) { r in
                let doc = try Self.json(r) as! [String: Any]
                XCTAssertEqual(doc["openapi"] as? String, "3.0.3")
            }
            // Training needs two classes with images.
            try await client.execute(uri: "/api/projects/1/runs", method: .post, headers: Self.jsonHeaders,
                                     body: try Self.body([String: Any]())) { XCTAssertEqual($0.status, .badRequest) }
        }
        // Stored images are named by their hash only: nothing from the request reached the file system.
        let stored = try FileManager.default.subpathsOfDirectory(atPath: directory.appendingPathComponent("images").path)
        XCTAssertTrue(stored.allSatisfy { !$0.contains("passwd") && !$0.contains("a.jpg") })
    }

    func testUploadLimit() async throws {
        try await app(maxUpload: 1000).test(.router) { client in
            try await client.execute(uri: "/api/projects", method: .post, headers: Self.jsonHeaders, body: try Self.body(["name": "p"]))
            try await client.execute(uri: "/api/projects/1/classes", method: .post, headers: Self.jsonHeaders, body: try Self.body(["name": "c"]))
            try await client.execute(uri: "/api/projects/1/classes/1/images", method: .post, body: try self.xray("000001-2.jpg")) { r in
                XCTAssertEqual(r.status, .contentTooLarge)
            }
        }
    }

    func testTokenIsRequiredWhenSet() async throws {
        try await app(token: "s3cret").test(.router) { client in
            try await client.execute(uri: "/api/projects", method: .get) { XCTAssertEqual($0.status, .unauthorized) }
            try await client.execute(uri: "/api/projects", method: .get, headers: [.authorization: "Bearer nope"]) {
                XCTAssertEqual($0.status, .unauthorized)
            }
            try await client.execute(uri: "/api/projects", method: .get, headers: [.authorization: "Bearer s3cret"]) {
                XCTAssertEqual($0.status, .ok)
            }
            try await client.execute(uri: "/", method: .get) { XCTAssertEqual($0.status, .ok) }  // the page asks for the token
        }
    }

    func testImportIsLimitedToAllowedFolders() async throws {
        try await app(importRoots: [Self.shared.appendingPathComponent("models").path]).test(.router) { client in
            try await client.execute(uri: "/api/projects", method: .post, headers: Self.jsonHeaders, body: try Self.body(["name": "p"]))
            try await client.execute(uri: "/api/projects/1/import", method: .post, headers: Self.jsonHeaders,
                                     body: try Self.body(["path": Self.shared.appendingPathComponent("models/../data/covid-chestxray").path])) { r in
                XCTAssertEqual(r.status, .forbidden)
            }
            let folders = Self.shared.appendingPathComponent("models/teachable-machine-image/training-images").path
            try await client.execute(uri: "/api/projects/1/import", method: .post, headers: Self.jsonHeaders,
                                     body: try Self.body(["path": folders])) { r in
                XCTAssertEqual(r.status, .ok)
                let d = try Self.json(r) as! [String: Any]
                XCTAssertEqual(d["imported"] as? Int, 22)
                XCTAssertEqual(d["classes"] as? Int, 2)
                XCTAssertFalse((d["skipped"] as! [[String: String]]).isEmpty, ".DS_Store files are reported")
            }
        }
    }

    /// Training in the background: a second run is refused while one runs; the finished run has
    /// metrics, predictions and a working predict endpoint.
    func testTrainingRunAndPrediction() async throws {
        let folders = Self.shared.appendingPathComponent("models/teachable-machine-image/training-images").path
        try await app(importRoots: [folders]).test(.router) { client in
            try await client.execute(uri: "/api/projects", method: .post, headers: Self.jsonHeaders, body: try Self.body(["name": "p"]))
            try await client.execute(uri: "/api/projects/1/import", method: .post, headers: Self.jsonHeaders, body: try Self.body(["path": folders]))
            try await client.execute(uri: "/api/projects/1/runs", method: .post, headers: Self.jsonHeaders,
                                     body: try Self.body(["epochs": 5, "split": "60/20/20"])) { XCTAssertEqual($0.status, .accepted) }
            try await client.execute(uri: "/api/projects/1/runs", method: .post, headers: Self.jsonHeaders,
                                     body: try Self.body(["epochs": 5])) { XCTAssertEqual($0.status, .conflict) }
            var status = "queued"
            for _ in 0..<600 where status == "queued" || status == "running" {  // bounded: 60 s
                try await Task.sleep(nanoseconds: 100_000_000)
                status = try await client.execute(uri: "/api/runs/1", method: .get) { r in
                    (try Self.json(r) as! [String: Any])["status"] as! String
                }
            }
            XCTAssertEqual(status, "finished")
            try await client.execute(uri: "/api/runs/1", method: .get) { r in
                let run = try Self.json(r) as! [String: Any]
                let metrics = run["metrics"] as! [String: Any]
                XCTAssertEqual((metrics["epochs"] as! [Any]).count, 5)
                XCTAssertNotNil(metrics["confusion"])
            }
            try await client.execute(uri: "/api/runs/1/predictions", method: .get) { r in
                let rows = try Self.json(r) as! [[String: Any]]
                XCTAssertFalse(rows.isEmpty)
                XCTAssertTrue(rows.allSatisfy { $0["imageId"] is Int }, "each test row points at a stored image")
            }
            let image = try Data(contentsOf: URL(fileURLWithPath: folders).appendingPathComponent("Class 2/3.png"))
            try await client.execute(uri: "/api/runs/1/predict", method: .post, body: ByteBuffer(bytes: image)) { r in
                XCTAssertEqual(r.status, .ok)
                let p = try Self.json(r) as! [String: Any]
                XCTAssertEqual((p["probabilities"] as! [String: Double]).values.reduce(0, +), 1, accuracy: 1e-4)
                XCTAssertTrue((p["heatmap"] as! String).hasPrefix("data:image/png;base64,"))
            }
            try await client.execute(uri: "/api/runs/1/heatmap/1", method: .get) { r in
                XCTAssertEqual(r.status, .ok)
                XCTAssertEqual(Array(Data(r.body.readableBytesView).prefix(4)), [0x89, 0x50, 0x4E, 0x47])
            }
            try await client.execute(uri: "/api/runs/1/download/onnx", method: .get) { r in
                XCTAssertEqual(r.status, .ok)
                XCTAssertGreaterThan(r.body.readableBytes, 1_000_000)
            }
        }
    }

    func testRestartMarksInterruptedRuns() throws {
        let store = try StudioStore(directory: directory)
        let project = try store.createProject(name: "p")
        let run = try store.createRun(projectId: project.id!, options: "{}")
        try store.updateRun(run.id!) { $0.status = "running" }
        // A new server on the same data directory: the run was cut off, and says so.
        _ = try StudioAPI(settings: StudioSettings(dataDirectory: directory))
        let after = try StudioStore(directory: directory).run(run.id!)
        XCTAssertEqual(after.status, "interrupted")
        XCTAssertNotNil(after.error)
        XCTAssertEqual(try StudioStore(directory: directory).projects().count, 1, "nothing stored is lost")
    }

    func testUnwritableDataDirectoryIsAnError() throws {
        let file = directory.appendingPathExtension("file")
        try Data("x".utf8).write(to: file)
        defer { try? FileManager.default.removeItem(at: file) }
        XCTAssertThrowsError(try StudioStore(directory: file)) { XCTAssertTrue("\($0)".contains(file.path), "\($0)") }
    }
}
