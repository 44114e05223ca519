import Foundation
#if canImport(FoundationNetworking)
import FoundationNetworking
#endif
import LightboxTestSupport
import XCTest

/// `lightbox serve` as an operator starts it: where the token comes from, what it refuses
/// before creating anything, what the process list shows.
final class ServeCommandTests: TemporaryFolderTestCase {
    /// Without LIGHTBOX_TOKEN from the developer's own shell.
    var environment: [String: String] { ["LIGHTBOX_TOKEN": "", "LIGHTBOX_HOME": work.appendingPathComponent("home").path] }

    /// A running server and the login URL it printed on standard output.
    final class Server {
        let process = Process()
        var login = ""
        var port: Int { Int(login.split(separator: ":")[2].split(separator: "/")[0])! }
        var token: String? { login.components(separatedBy: "?token=").dropFirst().first }

        /// `standardError`: a file that receives what the server says there (else nothing keeps it).
        init(_ arguments: [String], environment: [String: String], standardError: URL? = nil) throws {
            process.executableURL = Bundle.main.bundleURL.appendingPathComponent("lightbox")
            process.arguments = ["serve", "--port", "0"] + arguments
            process.environment = ProcessInfo.processInfo.environment.merging(environment) { $1 }
            let out = Pipe()
            process.standardOutput = out
            if let standardError {
                FileManager.default.createFile(atPath: standardError.path, contents: nil)
                process.standardError = try FileHandle(forWritingTo: standardError)
            } else {
                process.standardError = FileHandle.nullDevice
            }
            try process.run()
            // The first line on standard output is "login: URL" (bounded wait: the read ends at exit).
            var line = Data()
            while !line.contains(UInt8(ascii: "\n")) {
                let chunk = out.fileHandleForReading.availableData
                if chunk.isEmpty { break }
                line.append(chunk)
            }
            let text = String(decoding: line, as: UTF8.self)
            guard let first = text.split(separator: "\n").first, first.hasPrefix("login: ") else {
                process.terminate()
                throw XCTSkip("serve printed no login line: \(text)")
            }
            login = String(first.dropFirst("login: ".count))
        }

        func stop() {
            process.terminate()
            process.waitUntilExit()
        }
    }

    func status(_ url: String, bearer: String? = nil) -> Int {
        var r = URLRequest(url: URL(string: url)!)
        if let bearer { r.setValue("Bearer \(bearer)", forHTTPHeaderField: "Authorization") }
        final class Box: @unchecked Sendable { var status = 0 }
        let box = Box(), done = DispatchSemaphore(value: 0)
        URLSession.shared.dataTask(with: r) { _, response, _ in
            box.status = (response as? HTTPURLResponse)?.statusCode ?? 0
            done.signal()
        }.resume()
        _ = done.wait(timeout: .now() + 30)
        return box.status
    }

    func testAnotherAddressWithoutAChosenTokenIsRefusedBeforeAnythingIsCreated() throws {
        let data = work.appendingPathComponent("data")
        let r = try CLI.run(["serve", "--host", "0.0.0.0", "--port", "0", "--data-dir", data.path], environment: environment)
        XCTAssertEqual(r.status, 1)
        XCTAssertTrue(r.stderr.contains("token"), r.stderr)
        XCTAssertFalse(FileManager.default.fileExists(atPath: data.path), "the data directory was created before refusing")
        XCTAssertFalse(FileManager.default.fileExists(atPath: work.appendingPathComponent("home").path))
        let short = try CLI.run(["serve", "--host", "0.0.0.0", "--token", "short-token-12345", "--data-dir", data.path],
                                environment: environment)
        XCTAssertEqual(short.status, 1)
        XCTAssertTrue(short.stderr.contains("32 characters"), short.stderr)
        XCTAssertFalse(FileManager.default.fileExists(atPath: data.path))
        let open = try CLI.run(["serve", "--host", "0.0.0.0", "--no-token", "--data-dir", data.path], environment: environment)
        XCTAssertEqual(open.status, 1)
        XCTAssertTrue(open.stderr.contains("loopback"), open.stderr)
        XCTAssertFalse(FileManager.default.fileExists(atPath: data.path))
    }

    func testPortOutOfRangeIsAUsageError() throws {
        let r = try CLI.run(["serve", "--port", "99999", "--data-dir", work.appendingPathComponent("d").path], environment: environment)
        XCTAssertEqual(r.status, 64)
        XCTAssertTrue(r.stderr.contains("--port"), r.stderr)
    }

    /// No token given: one is generated, printed in the login URL, and required.
    func testGeneratedTokenIsPrintedAndRequired() throws {
        let server = try Server(["--data-dir", work.appendingPathComponent("d").path], environment: environment)
        defer { server.stop() }
        let token = try XCTUnwrap(server.token)
        XCTAssertEqual(token.count, 64)
        let api = "http://127.0.0.1:\(server.port)/api/projects"
        XCTAssertEqual(status(api), 401)
        XCTAssertEqual(status(api, bearer: "wrong-token"), 401)
        XCTAssertEqual(status(api, bearer: token), 200)
        XCTAssertEqual(status("http://127.0.0.1:\(server.port)/api/openapi.json"), 200)
    }

    /// `--token` works, but the process list stops showing it; a file and the environment work too.
    func testTokenSources() throws {
        let secret = "flag-secret-0123456789"
        let flag = try Server(["--token", secret, "--data-dir", work.appendingPathComponent("a").path], environment: environment)
        let cmdline = try String(decoding: Data(contentsOf: URL(fileURLWithPath: "/proc/\(flag.process.processIdentifier)/cmdline")), as: UTF8.self)
        XCTAssertFalse(cmdline.contains(secret), "the token is in /proc/PID/cmdline")
        XCTAssertEqual(status("http://127.0.0.1:\(flag.port)/api/projects", bearer: secret), 200)
        flag.stop()

        let file = work.appendingPathComponent("token.txt")
        try Data("file-secret-0123456789\n".utf8).write(to: file)
        let fromFile = try Server(["--token-file", file.path, "--data-dir", work.appendingPathComponent("b").path], environment: environment)
        XCTAssertEqual(status("http://127.0.0.1:\(fromFile.port)/api/projects", bearer: "file-secret-0123456789"), 200)
        XCTAssertEqual(fromFile.token, "file-secret-0123456789")
        fromFile.stop()

        var env = environment
        env["LIGHTBOX_TOKEN"] = "env-secret-0123456789"
        let fromEnv = try Server(["--data-dir", work.appendingPathComponent("c").path], environment: env)
        XCTAssertEqual(status("http://127.0.0.1:\(fromEnv.port)/api/projects", bearer: "env-secret-0123456789"), 200)
        XCTAssertEqual(status("http://127.0.0.1:\(fromEnv.port)/api/projects"), 401)
        fromEnv.stop()

        let bad = try CLI.run(["serve", "--token-file", work.appendingPathComponent("missing").path, "--data-dir", work.appendingPathComponent("e").path],
                              environment: environment)
        XCTAssertEqual(bad.status, 1)
        XCTAssertTrue(bad.stderr.contains("missing"), bad.stderr)
    }

    func testNoTokenOnLoopbackWarnsAndServes() throws {
        let server = try Server(["--no-token", "--data-dir", work.appendingPathComponent("d").path], environment: environment)
        defer { server.stop() }
        XCTAssertNil(server.token)
        XCTAssertEqual(status("http://127.0.0.1:\(server.port)/api/projects"), 200)
    }

    /// The data directory is its owner's alone: one an earlier version left open (0755 folders,
    /// 0644 files) is tightened at start with a notice naming it, and whatever the server
    /// writes later is created owner-only (its umask is 077: runs, exports, caches).
    func testDataDirectoryIsMadeOwnerOnly() throws {
        let data = work.appendingPathComponent("d")
        let notes = data.appendingPathComponent("keep/notes.txt")
        try FileManager.default.createDirectory(at: notes.deletingLastPathComponent(), withIntermediateDirectories: true)
        try Data("x".utf8).write(to: notes)
        for (path, mode) in [(data.path, 0o755), (notes.deletingLastPathComponent().path, 0o755), (notes.path, 0o644)] {
            XCTAssertEqual(chmod(path, mode_t(mode)), 0)
        }
        let log = work.appendingPathComponent("serve.log")
        let server = try Server(["--data-dir", data.path], environment: environment, standardError: log)
        defer { server.stop() }
        let status = try String(contentsOfFile: "/proc/\(server.process.processIdentifier)/status", encoding: .utf8)
        XCTAssertTrue(status.contains("Umask:\t0077"), status)
        func mode(_ path: String) -> Int {
            ((try? FileManager.default.attributesOfItem(atPath: path))?[.posixPermissions] as? Int) ?? -1
        }
        XCTAssertEqual(mode(data.path), 0o700)
        XCTAssertEqual(mode(notes.deletingLastPathComponent().path), 0o700)
        XCTAssertEqual(mode(notes.path), 0o600)
        XCTAssertEqual(mode(data.appendingPathComponent("studio.sqlite").path), 0o600)
        let said = try String(contentsOf: log, encoding: .utf8)
        XCTAssertTrue(said.contains(data.path) && said.contains("only their owner"), said)
    }

    // MARK: the token kept in the data directory

    /// A request with headers exactly as given: no cookie store, no redirects followed.
    func response(_ url: String, method: String = "GET", bearer: String? = nil, cookie: String? = nil) -> (status: Int, setCookie: String?) {
        var r = URLRequest(url: URL(string: url)!)
        r.httpMethod = method
        if let bearer { r.setValue("Bearer \(bearer)", forHTTPHeaderField: "Authorization") }
        if let cookie { r.setValue(cookie, forHTTPHeaderField: "Cookie") }
        let configuration = URLSessionConfiguration.ephemeral
        configuration.httpShouldSetCookies = false
        configuration.httpCookieStorage = nil
        let session = URLSession(configuration: configuration)
        defer { session.finishTasksAndInvalidate() }
        final class Box: @unchecked Sendable { var status = 0; var setCookie: String? }
        let box = Box(), done = DispatchSemaphore(value: 0)
        session.dataTask(with: r) { _, response, _ in
            let http = response as? HTTPURLResponse
            box.status = http?.statusCode ?? 0
            box.setCookie = http?.value(forHTTPHeaderField: "Set-Cookie")
            done.signal()
        }.resume()
        _ = done.wait(timeout: .now() + 30)
        return (box.status, box.setCookie)
    }

    /// No token given: the one kept in the data directory (0600) is used at every start, so the
    /// login URL stays the same; --new-token replaces it, and the old token and the sessions
    /// opened with it no longer get in.
    func testStoredTokenKeepsTheLoginURLAndNewTokenReplacesIt() throws {
        let data = work.appendingPathComponent("d")
        let file = data.appendingPathComponent("studio-token")
        let first = try Server(["--data-dir", data.path], environment: environment)
        let login = first.login, port = first.port, token = try XCTUnwrap(first.token)
        first.stop()
        var info = stat()
        XCTAssertEqual(lstat(file.path, &info), 0, "no token file at \(file.path)")
        XCTAssertEqual(info.st_mode & 0o777, 0o600)
        XCTAssertEqual(try String(contentsOf: file, encoding: .utf8).trimmingCharacters(in: .whitespacesAndNewlines), token)

        let second = try Server(["--data-dir", data.path, "--port", "\(port)"], environment: environment)
        XCTAssertEqual(second.login, login, "the second start printed another login URL")
        XCTAssertEqual(status("http://127.0.0.1:\(second.port)/api/projects", bearer: token), 200)
        // A browser's session, opened with the stored token.
        let opened = response("http://127.0.0.1:\(second.port)/api/session", method: "POST", bearer: token)
        XCTAssertEqual(opened.status, 204)
        let cookie = try XCTUnwrap(opened.setCookie?.split(separator: ";").first.map(String.init))
        XCTAssertEqual(response("http://127.0.0.1:\(second.port)/api/projects", cookie: cookie).status, 200)
        second.stop()

        let renewed = try Server(["--data-dir", data.path, "--port", "\(port)", "--new-token"], environment: environment)
        defer { renewed.stop() }
        let newToken = try XCTUnwrap(renewed.token)
        XCTAssertNotEqual(newToken, token)
        XCTAssertEqual(try String(contentsOf: file, encoding: .utf8).trimmingCharacters(in: .whitespacesAndNewlines), newToken)
        XCTAssertEqual(lstat(file.path, &info), 0)
        XCTAssertEqual(info.st_mode & 0o777, 0o600)
        let base = "http://127.0.0.1:\(renewed.port)"
        XCTAssertEqual(status("\(base)/api/projects", bearer: token), 401, "the old token still works")
        XCTAssertEqual(response("\(base)/?token=\(token)").status, 401, "the old login URL still logs in")
        XCTAssertEqual(response("\(base)/api/projects", cookie: cookie).status, 401, "a session of the old token survived")
        XCTAssertEqual(response("\(base)/?token=\(newToken)").status, 200, "the new login URL does not log in")
        XCTAssertEqual(status("\(base)/api/projects", bearer: newToken), 200)
    }

    /// A stored token others could read, or one that is not a token, is refused with the file
    /// named and what to do; --new-token replaces it. --new-token with a token given is refused.
    func testStoredTokenThatIsNotOwnerOnlyOrMalformedIsRefused() throws {
        let data = work.appendingPathComponent("d")
        let file = data.appendingPathComponent("studio-token")
        let first = try Server(["--data-dir", data.path], environment: environment)
        let token = try XCTUnwrap(first.token)
        first.stop()

        XCTAssertEqual(chmod(file.path, 0o644), 0)
        let open = try CLI.run(["serve", "--port", "0", "--data-dir", data.path], environment: environment)
        XCTAssertEqual(open.status, 1)
        XCTAssertTrue(open.stderr.contains(file.path) && open.stderr.contains("other users") && open.stderr.contains("--new-token"), open.stderr)

        try Data("not a token, it has spaces\n".utf8).write(to: file)
        XCTAssertEqual(chmod(file.path, 0o600), 0)
        let malformed = try CLI.run(["serve", "--port", "0", "--data-dir", data.path], environment: environment)
        XCTAssertEqual(malformed.status, 1)
        XCTAssertTrue(malformed.stderr.contains(file.path) && malformed.stderr.contains("malformed"), malformed.stderr)

        let both = try CLI.run(["serve", "--port", "0", "--data-dir", data.path, "--new-token", "--token", "chosen-token-0123456789"],
                               environment: environment)
        XCTAssertEqual(both.status, 1)
        XCTAssertTrue(both.stderr.contains("--new-token"), both.stderr)

        let renewed = try Server(["--data-dir", data.path, "--new-token"], environment: environment)
        defer { renewed.stop() }
        let newToken = try XCTUnwrap(renewed.token)
        XCTAssertNotEqual(newToken, token)
        var info = stat()
        XCTAssertEqual(lstat(file.path, &info), 0)
        XCTAssertEqual(info.st_mode & 0o777, 0o600)
        XCTAssertEqual(status("http://127.0.0.1:\(renewed.port)/api/projects", bearer: newToken), 200)
    }

    /// A token given by the operator wins over the stored one, and leaves it alone.
    func testAGivenTokenWinsOverTheStoredOne() throws {
        let data = work.appendingPathComponent("d")
        let first = try Server(["--data-dir", data.path], environment: environment)
        let stored = try XCTUnwrap(first.token)
        first.stop()
        var env = environment
        env["LIGHTBOX_TOKEN"] = "env-secret-0123456789"
        let given = try Server(["--data-dir", data.path], environment: env)
        XCTAssertEqual(given.token, "env-secret-0123456789")
        XCTAssertEqual(status("http://127.0.0.1:\(given.port)/api/projects", bearer: stored), 401)
        given.stop()
        XCTAssertEqual(try String(contentsOf: data.appendingPathComponent("studio-token"), encoding: .utf8)
            .trimmingCharacters(in: .whitespacesAndNewlines), stored)
    }

    /// --sample-data must be a covid-chestxray-dataset folder: refused, naming it, before the
    /// data directory (or its token) is created.
    func testSampleDataWithoutMetadataIsRefusedBeforeAnythingIsCreated() throws {
        let data = work.appendingPathComponent("d")
        let r = try CLI.run(["serve", "--port", "0", "--data-dir", data.path, "--sample-data", work.path], environment: environment)
        XCTAssertEqual(r.status, 1)
        XCTAssertTrue(r.stderr.contains("--sample-data \(work.path): no metadata.csv"), r.stderr)
        XCTAssertFalse(FileManager.default.fileExists(atPath: data.path), "the data directory was created before refusing")
    }
}
