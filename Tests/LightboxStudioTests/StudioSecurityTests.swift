import Foundation
import HTTPTypes
import Hummingbird
import HummingbirdTesting
import LightboxImaging
import XCTest
@testable import LightboxStudio

/// Issue 9's findings, each as the request that showed it: token bypass by path spelling,
/// DNS rebinding, cross-site requests, script injection defences, crashing and wedging
/// requests, names, deletion.
final class StudioSecurityTests: XCTestCase {
    var directory: URL!

    override func setUpWithError() throws { directory = Fixture.newDirectory() }
    override func tearDownWithError() throws { try? FileManager.default.removeItem(at: directory) }

    func app(_ change: (inout StudioSettings) -> Void = { _ in }) throws -> some ApplicationProtocol {
        var settings = Fixture.settings(directory)
        change(&settings)
        return Application(router: try StudioAPI(settings: settings).router())
    }

    /// Every route the router registers (read from its route log, so a new route cannot be
    /// missed), with its parameters filled in, as "api/..." paths.
    func everyRoute() throws -> [(HTTPRequest.Method, String)] {
        let api = try StudioAPI(settings: Fixture.settings(directory))
        _ = api.router()
        return api.routeLog.routes.sorted().compactMap { entry in
            let parts = entry.split(separator: " ", maxSplits: 1).map(String.init)
            guard parts[1] != "/api/openapi.json" else { return nil }  // public by design
            let path = parts[1].dropFirst().split(separator: "/").map { part in
                part == "{format}" ? "onnx" : part.hasPrefix("{") ? "1" : String(part)
            }.joined(separator: "/")
            return (HTTPRequest.Method(parts[0])!, path)
        }
    }

    /// Every route, spelled every way a server might collapse to it, answers 401 without the token.
    func testTokenIsNeededWhateverThePathSpelling() async throws {
        let routes = try everyRoute()
        XCTAssertGreaterThan(routes.count, 25, "the route log lists every route")
        XCTAssertTrue(routes.contains { $0.0 == .patch && $0.1 == "api/projects/1/classes/1" }, "\(routes)")
        func spellings(_ path: String) -> [String] {
            let rest = path.dropFirst(4)  // after "api/"
            return ["/" + path, "//" + path, "///" + path, "/api//" + rest, "/./" + path, "/x/../" + path, "/%61pi/" + rest,
                    "/api%2F" + rest, "/api%252F" + rest, "/API/" + rest, "/api/./" + rest, "/api/x/../" + rest]
        }
        try await app().test(.router) { client in
            for (method, path) in routes {
                for spelling in spellings(path) {
                    for headers: HTTPFields in [[.contentType: "application/json"], [.authorization: "Bearer wrong-token-123"],
                                                [.cookie: "lightbox_studio_80=forged"]] {
                        let r = try await client.executeRequest(uri: spelling, method: method, headers: headers,
                                                                body: try Fixture.body(["name": "x"]))
                        XCTAssertEqual(r.status, .unauthorized, "\(method) \(spelling) \(headers)")
                    }
                }
            }
            // With the token the same request goes through.
            let r1 = try await client.post("/api/projects", json: ["name": "real"])
            XCTAssertEqual(r1.status, .created)
        }
        let projects = try StudioStore(directory: directory).projects()
        XCTAssertEqual(projects.map(\.name), ["real"], "nothing was created without the token")
    }

    func testPageAndAPIDescriptionArePublicWithStrictHeaders() async throws {
        try await app().test(.router) { client in
            let page = try await client.executeRequest(uri: "/", method: .get, headers: [:], body: nil)
            XCTAssertEqual(page.status, .ok)
            XCTAssertEqual(page.headers[.contentSecurityPolicy], "default-src 'self'; img-src 'self' data: blob:; frame-ancestors 'none'")
            XCTAssertEqual(page.headers[.xContentTypeOptions], "nosniff")
            XCTAssertEqual(page.headers[HTTPField.Name("Referrer-Policy")!], "no-referrer")
            let html = String(buffer: page.body)
            XCTAssertFalse(html.contains("<script>"), "no inline script")
            XCTAssertFalse(html.contains("style="), "no inline style")
            XCTAssertTrue(html.contains("<script src=\"/static/studio.js\""))
            let script = try await client.executeRequest(uri: "/static/studio.js", method: .get, headers: [:], body: nil)
            XCTAssertEqual(script.status, .ok)
            XCTAssertEqual(script.headers[.contentType], "text/javascript; charset=utf-8")
            let js = String(buffer: script.body)
            XCTAssertFalse(js.contains("innerHTML"), "the page builds its DOM with textContent and DOM calls")
            XCTAssertFalse(js.contains("outerHTML") || js.contains("insertAdjacentHTML") || js.contains("document.write"))
            XCTAssertFalse(js.contains("localStorage") || js.contains("sessionStorage"), "no token kept by the page")
            let css = try await client.executeRequest(uri: "/static/studio.css", method: .get, headers: [:], body: nil)
            XCTAssertEqual(css.status, .ok)
            let doc = try await client.executeRequest(uri: "/api/openapi.json", method: .get, headers: [:], body: nil)
            XCTAssertEqual(doc.status, .ok)
            let schemes = ((try Fixture.decode(doc) as! [String: Any])["components"] as! [String: Any])["securitySchemes"] as! [String: Any]
            XCTAssertNotNil(schemes["bearer"])
            XCTAssertEqual((schemes["session"] as? [String: Any])?["in"] as? String, "cookie")
            let api = try await client.get("/api/projects")
            XCTAssertEqual(api.headers[.cacheControl], "no-store")
        }
    }

    /// The OpenAPI document lists exactly the routes and methods the router serves, and each
    /// route says how it is secured.
    func testOpenAPIDocumentMatchesTheRouter() throws {
        let api = try StudioAPI(settings: Fixture.settings(directory))
        _ = api.router()
        let doc = try JSONSerialization.jsonObject(with: Data(OpenAPIDocument.json(cookieName: "c").utf8)) as! [String: Any]
        var documented: Set<String> = []
        for (path, item) in doc["paths"] as! [String: [String: Any]] {
            for method in ["get", "post", "put", "delete", "patch"] where item[method] != nil {
                documented.insert("\(method.uppercased()) \(path)")
            }
        }
        XCTAssertEqual(api.routeLog.routes.subtracting(documented), [], "routes the document does not describe")
        XCTAssertEqual(documented.subtracting(api.routeLog.routes), [], "described routes the router does not serve")
        XCTAssertGreaterThan(documented.count, 20)
        XCTAssertEqual(doc["security"] as? [[String: [String]]], [["bearer": []], ["session": []]])
    }

    /// The login URL trades the token for an HttpOnly, SameSite=Strict cookie; the cookie works;
    /// a wrong token gets nothing.
    func testLoginURLSetsASessionCookie() async throws {
        try await app().test(.router) { client in
            let wrong = try await client.executeRequest(uri: "/?token=nope-nope-nope", method: .get, headers: [:], body: nil)
            XCTAssertEqual(wrong.status, .unauthorized)
            XCTAssertNil(wrong.headers[.setCookie])
            let login = try await client.executeRequest(uri: "/?token=\(Fixture.token)", method: .get, headers: [:], body: nil)
            XCTAssertEqual(login.status, .seeOther)
            XCTAssertEqual(login.headers[.location], "/")
            let cookie = try XCTUnwrap(login.headers[.setCookie])
            XCTAssertTrue(cookie.hasPrefix("lightbox_studio_80="), cookie)
            XCTAssertTrue(cookie.contains("HttpOnly"), cookie)
            XCTAssertTrue(cookie.contains("SameSite=Strict"), cookie)
            XCTAssertFalse(cookie.contains(Fixture.token), "the cookie proves the token without being it")
            let pair = String(cookie.split(separator: ";")[0])
            let withCookie = try await client.executeRequest(uri: "/api/projects", method: .get, headers: [.cookie: pair], body: nil)
            XCTAssertEqual(withCookie.status, .ok)
            // The page's login box: Bearer in, a session cookie of the same kind out.
            let session = try await client.executeRequest(uri: "/api/session", method: .post, headers: Fixture.auth, body: nil)
            XCTAssertEqual(session.status, .noContent)
            let second = try XCTUnwrap(session.headers[.setCookie].map { String($0.split(separator: ";")[0]) })
            XCTAssertTrue(second.hasPrefix("lightbox_studio_80="), second)
            let withSecond = try await client.executeRequest(uri: "/api/projects", method: .get, headers: [.cookie: second], body: nil)
            XCTAssertEqual(withSecond.status, .ok)
        }
    }

    /// At most `StudioSessions.limit` sessions are open: one more ends the oldest.
    func testOpenSessionsAreBounded() throws {
        let sessions = StudioSessions()
        let first = sessions.start(), second = sessions.start()
        for _ in 0..<(StudioSessions.limit - 1) { _ = sessions.start() }
        XCTAssertFalse(sessions.isOpen(first), "the oldest session outlived the limit")
        XCTAssertTrue(sessions.isOpen(second))
        XCTAssertFalse(sessions.isOpen("forged"))
        let access = StudioAccess(token: Fixture.token)
        XCTAssertTrue(access.accepts(authorization: nil, cookie: second, sessions: sessions))
        XCTAssertFalse(access.accepts(authorization: nil, cookie: first, sessions: sessions))
        XCTAssertFalse(access.accepts(authorization: nil, cookie: second, sessions: StudioSessions()), "another process's session")
    }

    /// Logging out drops the session on the server: its cookie stops working at once, even
    /// where a copy of it survives; other browsers' sessions stay; a restart drops them all.
    func testLogoutRevokesTheSession() async throws {
        func login(_ client: some TestClientProtocol) async throws -> String {
            let r = try await client.executeRequest(uri: "/?token=\(Fixture.token)", method: .get, headers: [:], body: nil)
            XCTAssertEqual(r.status, .seeOther)
            return String(try XCTUnwrap(r.headers[.setCookie]).split(separator: ";")[0])
        }
        func status(_ client: some TestClientProtocol, _ cookie: String) async throws -> HTTPResponse.Status {
            try await client.executeRequest(uri: "/api/projects", method: .get, headers: [.cookie: cookie], body: nil).status
        }
        var other = ""
        try await app().test(.router) { client in
            let mine = try await login(client)
            other = try await login(client)
            XCTAssertNotEqual(mine, other, "each login is its own session")
            let s1 = try await status(client, mine)
            XCTAssertEqual(s1, .ok)
            let out = try await client.executeRequest(uri: "/api/session", method: .delete, headers: [.cookie: mine], body: nil)
            XCTAssertEqual(out.status, .noContent)
            XCTAssertTrue(out.headers[.setCookie]?.contains("Max-Age=0") ?? false, "the browser is told to forget it")
            let s2 = try await status(client, mine)
            XCTAssertEqual(s2, .unauthorized, "the cookie still works after logging out")
            let s3 = try await status(client, other)
            XCTAssertEqual(s3, .ok, "another browser's session ended too")
        }
        try await app().test(.router) { client in
            let s4 = try await status(client, other)
            XCTAssertEqual(s4, .unauthorized, "a session outlived the server")
        }
    }

    /// A page whose name was rebound to 127.0.0.1 sends its own name as Host: refused.
    func testHostHeaderMustNameThisServer() async throws {
        var settings = Fixture.settings(directory)
        settings.allowedHosts = ["studio.example.org"]
        let live = try await LiveStudio(settings: settings)
        defer { Task { await live.stop() } }
        let port = live.port
        func status(_ host: String?) throws -> Int {
            var headers = [("Authorization", "Bearer \(Fixture.token)")]
            if let host { headers.append(("Host", host)) }
            return try RawHTTP.request(port: port, path: "/api/projects", headers: headers).status
        }
        XCTAssertEqual(try status("evil.example:\(port)"), 403)
        XCTAssertEqual(try status("evil.example"), 403)
        XCTAssertEqual(try status("127.0.0.1.evil.example:\(port)"), 403)
        XCTAssertEqual(try status("127.0.0.1:\(port + 1)"), 403, "another port is another server")
        XCTAssertEqual(try status(nil), 400)
        XCTAssertEqual(try status("127.0.0.1:\(port)"), 200)
        XCTAssertEqual(try status("localhost:\(port)"), 200)
        XCTAssertEqual(try status("[::1]:\(port)"), 200)
        XCTAssertEqual(try status("studio.example.org"), 200, "--allow-host")
        // The page too: a rebound name gets nothing from this server.
        XCTAssertEqual(try RawHTTP.request(port: port, path: "/", headers: [("Host", "evil.example")]).status, 403)
        await live.stop()
    }

    /// Requests browsers send cross-site without a preflight (text/plain POSTs, forms) and any
    /// request from another origin or site are refused, even carrying a valid cookie.
    func testCrossOriginRequestsAreRefused() async throws {
        try await app().test(.router) { client in
            let login = try await client.executeRequest(uri: "/?token=\(Fixture.token)", method: .get, headers: [:], body: nil)
            let cookie = String(try XCTUnwrap(login.headers[.setCookie]).split(separator: ";")[0])
            func post(_ headers: HTTPFields, _ body: String = "{\"name\":\"x\"}") async throws -> HTTPResponse.Status {
                var h = headers
                h[.cookie] = cookie
                return try await client.executeRequest(uri: "/api/projects", method: .post, headers: h, body: ByteBuffer(string: body)).status
            }
            let r2 = try await post([.origin: "https://evil.example", .contentType: "text/plain"])
            XCTAssertEqual(r2, .forbidden)
            let r3 = try await post([.origin: "https://evil.example", .contentType: "application/json"])
            XCTAssertEqual(r3, .forbidden)
            let r4 = try await post([.origin: "null", .contentType: "application/json"])
            XCTAssertEqual(r4, .forbidden)
            let r5 = try await post([.origin: "http://127.0.0.1:9999", .contentType: "application/json"])
            XCTAssertEqual(r5, .forbidden,
                           "another port on 127.0.0.1 is another origin")
            let r6 = try await post([HTTPField.Name("Sec-Fetch-Site")!: "same-site", .contentType: "application/json"])
            XCTAssertEqual(r6, .forbidden)
            let r7 = try await post([HTTPField.Name("Sec-Fetch-Site")!: "cross-site", .contentType: "application/json"])
            XCTAssertEqual(r7, .forbidden)
            let r8 = try await post([.origin: "http://localhost", .contentType: "text/plain"])
            XCTAssertEqual(r8, .unsupportedMediaType,
                           "JSON endpoints take application/json only")
            let r9 = try await post([.contentType: "application/x-www-form-urlencoded"], "name=x")
            XCTAssertEqual(r9, .unsupportedMediaType)
            // Reading across origins is refused as well.
            let read = try await client.executeRequest(uri: "/api/projects", method: .get,
                                                       headers: [.cookie: cookie, .origin: "https://evil.example"], body: nil)
            XCTAssertEqual(read.status, .forbidden)
            XCTAssertNil(read.headers[.accessControlAllowOrigin])
            // Every route refuses another origin, even with a valid session cookie.
            for (method, path) in try everyRoute() {
                let r = try await client.executeRequest(uri: "/" + path, method: method,
                                                        headers: [.cookie: cookie, .origin: "https://evil.example", .contentType: "application/json"],
                                                        body: ByteBuffer(string: "{\"name\":\"x\"}"))
                XCTAssertEqual(r.status, .forbidden, "\(method) /\(path)")
            }
            // The page's own requests pass.
            let r10 = try await post([.origin: "http://localhost", .contentType: "application/json",
                                           HTTPField.Name("Sec-Fetch-Site")!: "same-origin"])
            XCTAssertEqual(r10, .created)
        }
        XCTAssertEqual(try StudioStore(directory: directory).projects().count, 1)
    }

    func testNamesAreNormalisedAndChecked() async throws {
        try await app().test(.router) { client in
            try await client.post("/api/projects", json: ["name": "p"])
            let r11 = try await client.post("/api/projects", json: ["name": "p"])
            XCTAssertEqual(r11.status, .conflict)
            let r12 = try await client.post("/api/projects/1/classes", json: ["name": "caf\u{E9}"])
            XCTAssertEqual(r12.status, .created)
            let decomposed = try await client.post("/api/projects/1/classes", json: ["name": "cafe\u{301}"])
            XCTAssertEqual(decomposed.status, .conflict, "the same name written two ways is one name")
            for bad in ["A\nB", "tab\there", "", String(repeating: "x", count: 101), "evil\u{202E}gpj.exe", "nul\u{0}"] {
                let r = try await client.post("/api/projects/1/classes", json: ["name": bad])
                XCTAssertEqual(r.status, .badRequest, bad.debugDescription)
                XCTAssertTrue(Fixture.error(r).contains("1-100 characters"), Fixture.error(r))
            }
            let r13 = try await client.post("/api/projects/1/classes", json: ["name": String(repeating: "\u{E9}", count: 100)])
            XCTAssertEqual(r13.status, .created)
        }
        XCTAssertEqual(try StudioStore(directory: directory).classes(projectId: 1).map(\.0.name).first, "caf\u{E9}")
    }

    /// Class names with line breaks, quotes, commas, formulas and markup go through a run and its
    /// predictions whole; the predictions endpoint never crashes the server.
    func testHostileClassNamesSurviveARun() async throws {
        let names = ["A\u{2028}B\"q\", =1+2*3", "<img src=x onerror=alert(document.domain)>"]
        // The line separator is refused; a newline-free hostile name is what a class may be.
        let usable = ["x,\"y\" =1+2*3", "<img src=x onerror=alert(document.domain)>"]
        try await app().test(.router) { client in
            try await client.post("/api/projects", json: ["name": "p"])
            let r14 = try await client.post("/api/projects/1/classes", json: ["name": names[0]])
            XCTAssertEqual(r14.status, .badRequest)
            for n in usable {
                let r15 = try await client.post("/api/projects/1/classes", json: ["name": n])
                XCTAssertEqual(r15.status, .created)
            }
            for (k, folder) in ["Class 1", "Class 2"].enumerated() {
                let dir = Fixture.trainingImages.appendingPathComponent(folder)
                for file in try FileManager.default.contentsOfDirectory(atPath: dir.path).sorted() where file.hasSuffix(".png") {
                    let r = try await client.upload("/api/projects/1/classes/\(k + 1)/images?filename=\(file)",
                                                    ByteBuffer(bytes: try Data(contentsOf: dir.appendingPathComponent(file))))
                    XCTAssertEqual(r.status, .created)
                }
            }
            let r16 = try await client.post("/api/projects/1/runs", json: ["epochs": 3])
            XCTAssertEqual(r16.status, .accepted)
            let r17 = try await client.waitForRun(1)
            XCTAssertEqual(r17["status"] as? String, "finished")
            for _ in 0..<2 {  // the page asks for these every time it opens the project
                let r = try await client.get("/api/runs/1/predictions")
                XCTAssertEqual(r.status, .ok)
                let rows = try Fixture.decode(r) as! [[String: Any]]
                XCTAssertFalse(rows.isEmpty)
                for row in rows {
                    XCTAssertTrue(usable.contains(row["label"] as! String), "\(row)")
                    XCTAssertTrue(usable.contains(row["predicted"] as! String), "\(row)")
                    XCTAssertEqual(Set((row["probabilities"] as! [String: Double]).keys), Set(usable))
                }
            }
        }
    }

    /// The predictions reader takes whatever CSV a run wrote (quoted line breaks, commas, quotes,
    /// neutralised formulas, short rows) without crashing: data sets made before names were
    /// checked may hold any class name.
    func testPredictionsReaderTakesAnyClassName() throws {
        let store = try StudioStore(directory: directory)
        let project = try store.createProject(name: "p")
        let run = try store.createRun(projectId: project.id!, options: "{}")
        try store.updateRun(run.id!) { $0.status = .finished }
        let folder = store.runDirectory(run.id!)
        try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
        let csv = "path,group,label,\"p_A\nB\",\"p_x,\"\"y\"\"\",p_=1+2,predicted\n" +
            "images/ab/abc,g1,\"A\nB\",0.7,0.2,0.1,\"A\nB\"\n" +
            "images/cd/cde,g2,'=1+2,0.1,0.1,0.8,'=1+2\n" +
            "images/ef/efg,g3\n"
        try Data(csv.utf8).write(to: folder.appendingPathComponent("predictions.csv"))
        let rows = try TestPredictions.load(store: store, run: run.id!)
        XCTAssertEqual(rows.count, 3)
        XCTAssertEqual(rows[0].label, "A\nB")
        XCTAssertEqual(rows[0].probabilities["x,\"y\""], 0.2)
        XCTAssertEqual(rows[1].label, "=1+2", "a neutralised cell maps back to its class")
        XCTAssertEqual(rows[1].predicted, "=1+2")
        XCTAssertEqual(rows[2].label, "")
        // A file that is not CSV at all is an error, not a crash.
        try Data("\"unterminated".utf8).write(to: folder.appendingPathComponent("predictions.csv"))
        XCTAssertThrowsError(try TestPredictions.load(store: store, run: run.id!))
    }

    /// Invalid options (and work over the budget) are refused before anything is stored, so
    /// they never leave a queued run that blocks the project.
    func testInvalidRunOptionsLeaveNothingBehind() async throws {
        try await app { $0.importRoots = [Fixture.trainingImages.path] }.test(.router) { client in
            try await client.post("/api/projects", json: ["name": "p"])
            try await client.post("/api/projects/1/import", json: ["path": Fixture.trainingImages.path])
            for options: [String: Any] in [["epochs": 0], ["split": "abc"], ["augmentCopies": 30], ["batchSize": -1],
                                           ["balance": "augment-to:99999999999"], ["dropout": 1.5], ["resize": "zoom"],
                                           ["positive": "nobody"], ["learningRate": 0]] {
                let r = try await client.post("/api/projects/1/runs", json: options)
                XCTAssertEqual(r.status, .badRequest, "\(options)")
                XCTAssertFalse(Fixture.error(r).isEmpty)
            }
            let project = try Fixture.decode(try await client.get("/api/projects/1")) as! [String: Any]
            XCTAssertEqual((project["runs"] as! [Any]).count, 0, "no run was stored")
            let r18 = try await client.post("/api/projects/1/runs", json: ["epochs": 2])
            XCTAssertEqual(r18.status, .accepted)
            let r19 = try await client.waitForRun(1)
            XCTAssertEqual(r19["status"] as? String, "finished")
            let r20 = try await client.delete("/api/projects/1")
            XCTAssertEqual(r20.status, .noContent)
        }
    }

    func testARunCanBeCancelled() async throws {
        try await app { $0.importRoots = [Fixture.trainingImages.path] }.test(.router) { client in
            try await client.post("/api/projects", json: ["name": "p"])
            try await client.post("/api/projects/1/import", json: ["path": Fixture.trainingImages.path])
            let r21 = try await client.post("/api/projects/1/runs", json: ["epochs": 1000])
            XCTAssertEqual(r21.status, .accepted)
            let cancel = try await client.executeRequest(uri: "/api/runs/1/cancel", method: .post, headers: Fixture.auth, body: nil)
            XCTAssertEqual(cancel.status, .accepted)
            let run = try await client.waitForRun(1)
            XCTAssertEqual(run["status"] as? String, "cancelled")
            let r22 = try await client.executeRequest(uri: "/api/runs/1/cancel", method: .post, headers: Fixture.auth, body: nil)
            XCTAssertEqual(r22.status, .conflict)
            XCTAssertFalse(FileManager.default.fileExists(atPath: self.directory.appendingPathComponent("runs/1").path))
            XCTAssertFalse(FileManager.default.fileExists(atPath: self.directory.appendingPathComponent("dataset-run-1.csv").path))
            let r23 = try await client.post("/api/projects/1/runs", json: ["epochs": 1])
            XCTAssertEqual(r23.status, .accepted,
                           "the project is not wedged")
            _ = try await client.waitForRun(2)
        }
    }

    /// Uploads are decoded within a memory budget read from the header, truncated pictures are
    /// refused, and nothing is stored for either.
    func testUploadsAreBoundedAndValidated() async throws {
        // A small PNG whose header declares 7,000 x 7,000 RGB pixels: over a gigabyte to decode.
        let big = try PNGEncoder.encode(rgb: [UInt8](repeating: 0, count: 7000 * 70 * 3), width: 7000, height: 70)
        var header = [UInt8](big)
        header.replaceSubrange(20..<24, with: [0, 0, 0x1B, 0x58])  // IHDR height: 7000
        header.replaceSubrange(29..<33, with: withUnsafeBytes(of: CRC32.of(header[12..<29]).bigEndian, Array.init))
        let jpeg = [UInt8](Data(try Fixture.xray("000001-2.jpg").readableBytesView))
        let png = [UInt8](Data(try Fixture.file("models/teachable-machine-image/training-images/Class 1/1.png").readableBytesView))
        try await app { $0.decodeMemoryBytes = 256 << 20 }.test(.router) { client in
            try await client.post("/api/projects", json: ["name": "p"])
            try await client.post("/api/projects/1/classes", json: ["name": "c"])
            let bomb = try await client.upload("/api/projects/1/classes/1/images", ByteBuffer(bytes: header))
            XCTAssertEqual(bomb.status, .contentTooLarge)
            XCTAssertTrue(Fixture.error(bomb).contains("budget"), Fixture.error(bomb))
            for cut in [Array(jpeg.prefix(jpeg.count / 3)), Array(png.prefix(png.count / 3))] {
                let r = try await client.upload("/api/projects/1/classes/1/images", ByteBuffer(bytes: cut))
                XCTAssertEqual(r.status, .badRequest)
                XCTAssertTrue(Fixture.error(r).contains("truncated"), Fixture.error(r))
            }
            let project = try Fixture.decode(try await client.get("/api/projects/1")) as! [String: Any]
            XCTAssertEqual((project["classes"] as! [[String: Any]])[0]["images"] as? Int, 0)
        }
    }

    /// Decoding runs off the threads that serve requests: the page answers while large uploads decode.
    func testPageAnswersWhileUploadsDecode() async throws {
        var settings = Fixture.settings(directory)
        settings.decodeMemoryBytes = 8 << 30
        settings.maxPixels = 100_000_000
        let live = try await LiveStudio(settings: settings)
        let port = live.port
        let host = ("Host", "127.0.0.1:\(port)"), auth = ("Authorization", "Bearer \(Fixture.token)")
        _ = try RawHTTP.request(port: port, method: "POST", path: "/api/projects", headers: [host, auth, ("Content-Type", "application/json")],
                                body: Data("{\"name\":\"p\"}".utf8))
        _ = try RawHTTP.request(port: port, method: "POST", path: "/api/projects/1/classes", headers: [host, auth, ("Content-Type", "application/json")],
                                body: Data("{\"name\":\"c\"}".utf8))
        // 6,000 x 6,000 RGB: a small file that takes a good part of a second to decode.
        var pixels = [UInt8](repeating: 0, count: 6000 * 6000 * 3)
        for i in stride(from: 0, to: pixels.count, by: 7) { pixels[i] = UInt8(i % 251) }
        let png = try PNGEncoder.encode(rgb: pixels, width: 6000, height: 6000)
        pixels = []
        final class Order: @unchecked Sendable {
            let lock = NSLock(); var events: [String] = []
            let start = Date()
            func add(_ e: String) { lock.lock(); events.append(e + String(format: " @%.2f", Date().timeIntervalSince(start))); lock.unlock() }
        }
        let order = Order()
        // Clients on threads of their own: blocking ones on Dispatch's global queues would take
        // the threads this process's server needs.
        let group = DispatchGroup()
        for k in 0..<4 {
            group.enter()
            Thread {
                let r = try? RawHTTP.request(port: port, method: "POST", path: "/api/projects/1/classes/1/images?filename=\(k).png",
                                             headers: [host, auth, ("Content-Type", "image/png")], body: png)
                order.add("upload \(r?.status ?? 0)")
                group.leave()
            }.start()
        }
        // Once the uploads' bodies have gone out, ask for the page.
        try await Task.sleep(nanoseconds: 300_000_000)
        group.enter()
        Thread {
            let page = try? RawHTTP.request(port: port, path: "/", headers: [host])
            order.add("page \(page?.status ?? 0)")
            group.leave()
        }.start()
        await withCheckedContinuation { c in Thread { group.wait(); c.resume() }.start() }
        await live.stop()
        XCTAssertTrue(order.events.first?.hasPrefix("page 200 ") == true, "the page waited for the decoding: \(order.events)")
        XCTAssertEqual(order.events.filter { $0.hasPrefix("upload 201 ") }.count, 4, "\(order.events)")
        XCTAssertEqual(try StudioStore(directory: directory).images(projectId: 1).count, 1, "the same picture is stored once")
    }

    /// An upload waiting for the decoding budget is dropped, not decoded, when its client hangs
    /// up before its turn; one whose client stays is decoded and stored.
    func testDecodingForAClientThatHasGoneIsDropped() async throws {
        let settings = Fixture.settings(directory)
        let api = try StudioAPI(settings: settings)
        let live = try await LiveStudio(settings: settings, api: api)
        let port = live.port
        let host = ("Host", "127.0.0.1:\(port)"), auth = ("Authorization", "Bearer \(Fixture.token)")
        let json = ("Content-Type", "application/json")
        _ = try RawHTTP.request(port: port, method: "POST", path: "/api/projects", headers: [host, auth, json], body: Data("{\"name\":\"p\"}".utf8))
        _ = try RawHTTP.request(port: port, method: "POST", path: "/api/projects/1/classes", headers: [host, auth, json], body: Data("{\"name\":\"c\"}".utf8))
        let png = try Data(contentsOf: Fixture.trainingImages.appendingPathComponent("Class 1/0.png"))
        let path = "/api/projects/1/classes/1/images?filename=gone.png"

        // Other work holds the whole budget; the upload arrives, waits its turn, and its client hangs up.
        try await api.gate.admissionForTests.acquire(api.gate.budgetBytes)
        let fd = try RawHTTP.connect(port: port)
        let head = "POST \(path) HTTP/1.1\r\nHost: \(host.1)\r\nAuthorization: \(auth.1)\r\nContent-Type: image/png\r\nContent-Length: \(png.count)\r\n\r\n"
        XCTAssertTrue(RawHTTP.send(fd, Data(head.utf8) + png))
        try await Task.sleep(nanoseconds: 500_000_000)
        close(fd)
        try await Task.sleep(nanoseconds: 500_000_000)
        await api.gate.admissionForTests.release(api.gate.budgetBytes)
        for _ in 0..<100 where api.gate.dropped == 0 { try await Task.sleep(nanoseconds: 100_000_000) }
        XCTAssertEqual(api.gate.dropped, 1, "the upload of a client that had gone was decoded")
        XCTAssertEqual(try StudioStore(directory: directory).images(projectId: 1).count, 0)

        let kept = try RawHTTP.request(port: port, method: "POST", path: path, headers: [host, auth, ("Content-Type", "image/png")], body: png)
        XCTAssertEqual(kept.status, 201, kept.text)
        XCTAssertEqual(api.gate.dropped, 1)
        await live.stop()
    }

    /// Import follows no link out of the import root and never blocks on a FIFO.
    func testImportSkipsLinksOutsideTheRootFIFOsAndDevices() async throws {
        let root = directory.appendingPathComponent("import-root"), outside = directory.appendingPathComponent("outside")
        for d in [root.appendingPathComponent("A"), root.appendingPathComponent("B"), outside] {
            try FileManager.default.createDirectory(at: d, withIntermediateDirectories: true)
        }
        let source = Fixture.trainingImages.appendingPathComponent("Class 1")
        try FileManager.default.copyItem(at: source.appendingPathComponent("1.png"), to: root.appendingPathComponent("A/good.png"))
        try FileManager.default.copyItem(at: source.appendingPathComponent("2.png"), to: root.appendingPathComponent("B/good.png"))
        try FileManager.default.copyItem(at: source.appendingPathComponent("3.png"), to: outside.appendingPathComponent("secret.png"))
        try FileManager.default.createSymbolicLink(atPath: root.appendingPathComponent("A/link.png").path,
                                                   withDestinationPath: outside.appendingPathComponent("secret.png").path)
        try FileManager.default.createSymbolicLink(atPath: root.appendingPathComponent("B/zero.png").path, withDestinationPath: "/dev/zero")
        XCTAssertEqual(mkfifo(root.appendingPathComponent("A/fifo.png").path, 0o600), 0)
        let device = root.appendingPathComponent("B/null.png").path
        let madeDevice = mknod(device, S_IFCHR | 0o600, (1 << 8) | 3) == 0  // needs root, as in CI
        try await app { $0.importRoots = [root.path] }.test(.router) { client in
            try await client.post("/api/projects", json: ["name": "p"])
            let r = try await client.post("/api/projects/1/import", json: ["path": root.path])
            XCTAssertEqual(r.status, .ok, Fixture.error(r))
            let d = try Fixture.decode(r) as! [String: Any]
            XCTAssertEqual(d["imported"] as? Int, 2)
            let skipped = (d["skipped"] as! [[String: String]]).map { ($0["item"]!, $0["reason"]!) }
            func reason(_ name: String) -> String { skipped.first { $0.0.hasSuffix(name) }?.1 ?? "not skipped" }
            XCTAssertTrue(reason("link.png").contains("outside"), reason("link.png"))
            XCTAssertTrue(reason("zero.png").contains("outside"), reason("zero.png"))
            XCTAssertTrue(reason("fifo.png").contains("FIFO"), reason("fifo.png"))
            if madeDevice { XCTAssertTrue(reason("null.png").contains("device"), reason("null.png")) }
        }
        let stored = try StudioStore(directory: directory).images(projectId: 1).map(\.filename).sorted()
        XCTAssertEqual(stored, ["good.png", "good.png"])

        // The table a data set is described by follows the same rules: a metadata.csv that is a
        // link out of the root, a link to /dev/zero or a FIFO is refused, never read.
        let covid = root.appendingPathComponent("covid")
        try FileManager.default.createDirectory(at: covid, withIntermediateDirectories: true)
        try Data("secret,columns\n".utf8).write(to: outside.appendingPathComponent("environ"))
        try await app { $0.importRoots = [root.path] }.test(.router) { client in
            for target in [outside.appendingPathComponent("environ").path, "/dev/zero", nil] {
                let table = covid.appendingPathComponent("metadata.csv")
                try? FileManager.default.removeItem(at: table)
                if let target {
                    try FileManager.default.createSymbolicLink(atPath: table.path, withDestinationPath: target)
                } else {
                    XCTAssertEqual(mkfifo(table.path, 0o600), 0)
                }
                let r = try await client.post("/api/projects/1/import", json: ["path": covid.path])
                XCTAssertEqual(r.status, .forbidden, "\(target ?? "fifo"): \(Fixture.error(r))")
                XCTAssertFalse(Fixture.error(r).contains("secret"), "the table's contents must not leak")
            }
        }
    }

    /// Deleting images, runs and projects deletes their files; a picture another project still
    /// uses stays; after every project is gone nothing is left on disk.
    func testDeletingRemovesTheFiles() async throws {
        func files(_ sub: String) -> [String] {
            ((try? FileManager.default.subpathsOfDirectory(atPath: directory.appendingPathComponent(sub).path)) ?? [])
        }
        try await app { $0.importRoots = [Fixture.trainingImages.path] }.test(.router) { client in
            for (p, name) in ["one", "two"].enumerated() {
                try await client.post("/api/projects", json: ["name": name])
                try await client.post("/api/projects/\(p + 1)/import", json: ["path": Fixture.trainingImages.path])
            }
            let r24 = try await client.post("/api/projects/1/runs", json: ["epochs": 2])
            XCTAssertEqual(r24.status, .accepted)
            let r25 = try await client.waitForRun(1)
            XCTAssertEqual(r25["status"] as? String, "finished")
            XCTAssertFalse(files("runs/1").isEmpty)
            let before = files("images").count
            // Image 1 of project one: the same picture is in project two, so its file stays.
            let r26 = try await client.delete("/api/images/1")
            XCTAssertEqual(r26.status, .noContent)
            XCTAssertEqual(files("images").count, before)
            let r27 = try await client.delete("/api/projects/2")
            XCTAssertEqual(r27.status, .noContent)
            XCTAssertLessThan(files("images").count, before, "the picture nobody uses any more is gone")
            let r28 = try await client.delete("/api/runs/1")
            XCTAssertEqual(r28.status, .noContent)
            XCTAssertTrue(files("runs").isEmpty)
            let r29 = try await client.delete("/api/projects/1")
            XCTAssertEqual(r29.status, .noContent)
        }
        XCTAssertEqual(files("images"), [], "no image file is left")
        XCTAssertEqual(files("runs"), [], "no run folder is left")
        let top = try FileManager.default.contentsOfDirectory(atPath: directory.path).sorted()
        XCTAssertTrue(top.allSatisfy { ["images", "runs"].contains($0) || $0.hasPrefix("studio.sqlite") }, "\(top)")
    }

    /// A client that sends its request headers a byte at a time is cut off.
    func testSlowRequestHeadersTimeOut() async throws {
        var settings = Fixture.settings(directory)
        settings.idleTimeoutSeconds = 1
        let live = try await LiveStudio(settings: settings)
        let port = live.port
        let closed: Bool = await withCheckedContinuation { c in
            DispatchQueue.global().async {
                guard let fd = try? RawHTTP.connect(port: port) else { return c.resume(returning: false) }
                defer { close(fd) }
                let head = Array("GET / HTTP/1.1\r\nHost: 127.0.0.1:\(port)\r\nX-Slow: ".utf8) + Array(repeating: UInt8(ascii: "a"), count: 40)
                for byte in head {  // 41 bytes, one every 250 ms: ten seconds if the server waited
                    guard RawHTTP.send(fd, Data([byte])) else { return c.resume(returning: true) }
                    usleep(250_000)
                }
                var buffer = [UInt8](repeating: 0, count: 16)
                c.resume(returning: recv(fd, &buffer, 16, Int32(MSG_DONTWAIT)) == 0)
            }
        }
        await live.stop()
        XCTAssertTrue(closed, "the server kept waiting for the headers")
    }
}

/// CRC-32 (PNG's), to write a valid chunk after editing a header.
enum CRC32 {
    static func of<C: Collection>(_ bytes: C) -> UInt32 where C.Element == UInt8 {
        var crc: UInt32 = 0xFFFF_FFFF
        for b in bytes {
            crc ^= UInt32(b)
            for _ in 0..<8 { crc = (crc >> 1) ^ (0xEDB8_8320 & (0 &- (crc & 1))) }
        }
        return crc ^ 0xFFFF_FFFF
    }
}
