import Foundation
import Hummingbird
import HummingbirdTesting
import LightboxTestSupport
import XCTest
@testable import LightboxStudio

/// What the Studio tests share: the developer data beside the repository, a fresh data
/// directory per test, the access token, and JSON helpers.
enum Fixture {
    static let shared = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
        .deletingLastPathComponent().deletingLastPathComponent().appendingPathComponent("shared")
    static let token = "test-token-0123456789"
    static let trainingImages = shared.appendingPathComponent("models/teachable-machine-image/training-images")

    /// The router test client names the server "localhost" without a port, which is what a
    /// browser sends for port 80: the tests' servers say they listen there.
    static func settings(_ directory: URL, token: String? = Fixture.token) -> StudioSettings {
        var s = StudioSettings(dataDirectory: directory, access: StudioAccess(token: token), runSettings: TestSettings.local)
        s.port = 80
        return s
    }

    static let auth: HTTPFields = [.authorization: "Bearer \(token)"]
    static let json: HTTPFields = [.authorization: "Bearer \(token)", .contentType: "application/json"]

    static func body(_ object: Any) throws -> ByteBuffer { ByteBuffer(bytes: try JSONSerialization.data(withJSONObject: object)) }

    static func decode(_ response: TestResponse) throws -> Any {
        try JSONSerialization.jsonObject(with: Data(response.body.readableBytesView), options: [.fragmentsAllowed])
    }

    static func error(_ response: TestResponse) -> String {
        ((try? decode(response)) as? [String: Any])?["error"] as? String ?? ""
    }

    static func file(_ relative: String) throws -> ByteBuffer {
        ByteBuffer(bytes: try Data(contentsOf: shared.appendingPathComponent(relative)))
    }

    static func xray(_ name: String) throws -> ByteBuffer { try file("data/covid-chestxray/images/\(name)") }

    static func newDirectory() -> URL {
        FileManager.default.temporaryDirectory.appendingPathComponent("studio-\(UUID().uuidString)")
    }
}

extension TestClientProtocol {
    @discardableResult
    func post(_ uri: String, json: Any) async throws -> TestResponse {
        try await executeRequest(uri: uri, method: .post, headers: Fixture.json, body: try Fixture.body(json))
    }

    @discardableResult
    func patch(_ uri: String, json: Any) async throws -> TestResponse {
        try await executeRequest(uri: uri, method: .patch, headers: Fixture.json, body: try Fixture.body(json))
    }

    @discardableResult
    func get(_ uri: String) async throws -> TestResponse {
        try await executeRequest(uri: uri, method: .get, headers: Fixture.auth, body: nil)
    }

    @discardableResult
    func delete(_ uri: String) async throws -> TestResponse {
        try await executeRequest(uri: uri, method: .delete, headers: Fixture.auth, body: nil)
    }

    @discardableResult
    func upload(_ uri: String, _ body: ByteBuffer) async throws -> TestResponse {
        try await executeRequest(uri: uri, method: .post, headers: Fixture.auth, body: body)
    }

    /// Polls a run until it leaves queued/running (bounded: 120 s).
    func waitForRun(_ id: Int) async throws -> [String: Any] {
        for _ in 0..<1200 {
            let run = try Fixture.decode(try await get("/api/runs/\(id)")) as! [String: Any]
            if !["queued", "running"].contains(run["status"] as? String ?? "") { return run }
            try await Task.sleep(nanoseconds: 100_000_000)
        }
        XCTFail("run \(id) did not end within 120 s")
        return [:]
    }
}

/// A Studio on a real socket (port picked by the system), for what needs one: Host headers as
/// browsers send them, slow clients, concurrent uploads.
final class LiveStudio: @unchecked Sendable {
    let task: Task<Void, Error>
    let port: Int

    /// `api`: one the test made, to look into (else the server makes its own).
    init(settings: StudioSettings, api: StudioAPI? = nil) async throws {
        final class Box: @unchecked Sendable { var port: Int?; let ready = DispatchSemaphore(value: 0) }
        let box = Box()
        task = Task {
            let listening: @Sendable (String) -> Void = { base in
                box.port = Int(base.split(separator: ":").last!.dropLast())
                box.ready.signal()
            }
            if let api {
                try await StudioServer.run(api: api, host: "127.0.0.1", port: 0, settings: settings, onListening: listening)
            } else {
                try await StudioServer.run(host: "127.0.0.1", port: 0, settings: settings, onListening: listening)
            }
        }
        let started = await withCheckedContinuation { c in
            DispatchQueue.global().async { c.resume(returning: box.ready.wait(timeout: .now() + 30) == .success) }
        }
        guard started, let port = box.port else { task.cancel(); throw StudioError(.unavailable, "the live Studio did not start") }
        self.port = port
    }

    func stop() async {
        task.cancel()
        _ = await task.result
    }
}

/// HTTP/1.1 over a plain socket: every header exactly as given (Host included).
enum RawHTTP {
    struct Response {
        var status: Int
        var headers: [String: String]
        var body: Data
        var text: String { String(decoding: body, as: UTF8.self) }
    }

    static func connect(port: Int) throws -> Int32 {
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_port = in_port_t(UInt16(port).bigEndian)
        address.sin_addr.s_addr = inet_addr("127.0.0.1")
        let ok = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { Glibc.connect(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) }
        }
        guard ok == 0 else { close(fd); throw StudioError(.unavailable, "cannot connect to port \(port)") }
        var timeout = timeval(tv_sec: 60, tv_usec: 0)
        setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &timeout, socklen_t(MemoryLayout<timeval>.size))
        return fd
    }

    static func send(_ fd: Int32, _ data: Data) -> Bool {
        data.withUnsafeBytes { raw in
            var sent = 0
            while sent < raw.count {
                let n = Glibc.send(fd, raw.baseAddress! + sent, raw.count - sent, Int32(MSG_NOSIGNAL))
                if n <= 0 { return false }
                sent += n
            }
            return true
        }
    }

    /// Reads until the server closes the connection (or 60 s pass).
    static func readAll(_ fd: Int32) -> Data {
        var out = Data()
        var buffer = [UInt8](repeating: 0, count: 65536)
        while true {
            let n = recv(fd, &buffer, buffer.count, 0)
            if n <= 0 { break }
            out.append(contentsOf: buffer[0..<n])
        }
        return out
    }

    static func request(port: Int, method: String = "GET", path: String, headers: [(String, String)], body: Data? = nil) throws -> Response {
        let fd = try connect(port: port)
        defer { close(fd) }
        var head = "\(method) \(path) HTTP/1.1\r\n"
        for (k, v) in headers { head += "\(k): \(v)\r\n" }
        if let body { head += "Content-Length: \(body.count)\r\n" }
        head += "Connection: close\r\n\r\n"
        _ = send(fd, Data(head.utf8) + (body ?? Data()))
        return parse(readAll(fd))
    }

    static func parse(_ data: Data) -> Response {
        guard let split = data.range(of: Data("\r\n\r\n".utf8)) else { return Response(status: 0, headers: [:], body: data) }
        let lines = String(decoding: data[..<split.lowerBound], as: UTF8.self).components(separatedBy: "\r\n")
        let status = Int(lines.first?.split(separator: " ").dropFirst().first ?? "") ?? 0
        var headers: [String: String] = [:]
        for line in lines.dropFirst() {
            guard let colon = line.firstIndex(of: ":") else { continue }
            headers[line[..<colon].lowercased()] = line[line.index(after: colon)...].trimmingCharacters(in: .whitespaces)
        }
        var body = Data(data[split.upperBound...])
        if headers["transfer-encoding"] == "chunked" { body = dechunk(body) }
        return Response(status: status, headers: headers, body: body)
    }

    static func dechunk(_ data: Data) -> Data {
        var out = Data(), rest = data[...]
        while let lineEnd = rest.range(of: Data("\r\n".utf8)) {
            let size = Int(String(decoding: rest[..<lineEnd.lowerBound], as: UTF8.self).split(separator: ";")[0], radix: 16) ?? 0
            if size == 0 { break }
            let start = lineEnd.upperBound
            guard rest.distance(from: start, to: rest.endIndex) >= size else { break }
            let end = rest.index(start, offsetBy: size)
            out.append(rest[start..<end])
            rest = rest[(rest.index(end, offsetBy: 2, limitedBy: rest.endIndex) ?? rest.endIndex)...]
        }
        return out
    }
}
