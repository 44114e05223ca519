import Foundation
#if canImport(FoundationNetworking)
import FoundationNetworking
#endif
import XCTest

/// `lightbox serve` killed (SIGKILL) while a run trains, then started again on the same data
/// directory: stored projects and images are all there and the run says it was interrupted.
final class ServerKillTests: XCTestCase {
    static let token = "kill-test-token-0123"

    func request(_ method: String, _ url: String, json: [String: Any]? = nil) throws -> (Int, Any?) {
        var r = URLRequest(url: URL(string: url)!)
        r.httpMethod = method
        r.setValue("Bearer \(Self.token)", forHTTPHeaderField: "Authorization")
        if let json {
            r.httpBody = try JSONSerialization.data(withJSONObject: json)
            r.setValue("application/json", forHTTPHeaderField: "Content-Type")
        }
        final class Box: @unchecked Sendable { var status = 0; var body: Data? }
        let box = Box(), done = DispatchSemaphore(value: 0)
        URLSession.shared.dataTask(with: r) { data, response, _ in
            box.status = (response as? HTTPURLResponse)?.statusCode ?? 0
            box.body = data
            done.signal()
        }.resume()
        _ = done.wait(timeout: .now() + 60)
        return (box.status, box.body.flatMap { try? JSONSerialization.jsonObject(with: $0) })
    }

    func serve(_ data: URL, port: Int, importRoot: String) throws -> Process {
        let p = Process()
        p.executableURL = Bundle.main.bundleURL.appendingPathComponent("lightbox")
        p.arguments = ["serve", "--port", "\(port)", "--data-dir", data.path, "--import-root", importRoot]
        p.environment = ProcessInfo.processInfo.environment.merging(["LIGHTBOX_TOKEN": Self.token]) { $1 }
        p.standardOutput = FileHandle.nullDevice
        p.standardError = FileHandle.nullDevice
        try p.run()
        for _ in 0..<100 {  // bounded wait: 10 s
            if (try? request("GET", "http://127.0.0.1:\(port)/api/projects").0) == 200 { break }
            usleep(100_000)
        }
        return p
    }

    func testKilledServerKeepsDataAndMarksTheRunInterrupted() throws {
        let data = FileManager.default.temporaryDirectory.appendingPathComponent("studio-kill-\(UUID().uuidString)")
        defer { try? FileManager.default.removeItem(at: data) }
        let images = CLI.shared.appendingPathComponent("models/teachable-machine-image/training-images").path
        let port = Int.random(in: 30000...60000), base = "http://127.0.0.1:\(port)"
        let first = try serve(data, port: port, importRoot: images)
        XCTAssertEqual(try request("POST", "\(base)/api/projects", json: ["name": "p"]).0, 201)
        XCTAssertEqual(try request("POST", "\(base)/api/projects/1/import", json: ["path": images]).0, 200)
        // A long run, killed once it is training (two epochs done: the first is in the store),
        // not before it started (bounded wait: 60 s).
        XCTAssertEqual(try request("POST", "\(base)/api/projects/1/runs", json: ["epochs": 1000]).0, 202)
        var training = false, state: String?
        for _ in 0..<3000 where !training && [nil, "queued", "running"].contains(state) {
            let run = try request("GET", "\(base)/api/runs/1").1 as? [String: Any]
            state = run?["status"] as? String
            training = state == "running" && (((run?["progress"] as? [String: Any])?["epochs"] as? [Any])?.count ?? 0) >= 2
            if !training { usleep(20_000) }
        }
        kill(first.processIdentifier, SIGKILL)
        first.waitUntilExit()
        XCTAssertTrue(training, "the run was training when the server was killed (last status: \(state ?? "none"))")

        let second = try serve(data, port: port, importRoot: images)
        defer {
            second.terminate()
            second.waitUntilExit()
        }
        let (status, body) = try request("GET", "\(base)/api/runs/1")
        XCTAssertEqual(status, 200)
        XCTAssertEqual((body as? [String: Any])?["status"] as? String, "interrupted")
        let epochs = ((body as? [String: Any])?["progress"] as? [String: Any])?["epochs"] as? [Any]
        XCTAssertFalse(epochs?.isEmpty ?? true, "the epochs stored before the kill are still there")
        XCTAssertLessThan(epochs?.count ?? 0, 1000, "killed before the run ended")
        let project = try request("GET", "\(base)/api/projects/1").1 as? [String: Any]
        let counts = (project?["classes"] as? [[String: Any]])?.compactMap { $0["images"] as? Int }
        XCTAssertEqual(counts, [11, 11], "every stored image is still there")
        // And the project can train again.
        XCTAssertEqual(try request("POST", "\(base)/api/projects/1/runs", json: ["epochs": 2]).0, 202)
    }
}
