import Foundation
import Hummingbird

/// The `/api` route group, keeping a list of every route it registers: the test that holds the
/// OpenAPI document to the router reads it, so a route cannot be added without its description.
struct APIRoutes {
    typealias Handler = @Sendable (Request, StudioRequestContext) async throws -> Response

    let group: RouterGroup<StudioRequestContext>
    let log: RouteLog

    func get(_ path: String, _ handler: @escaping Handler) { add(.get, path, handler) }
    func post(_ path: String, _ handler: @escaping Handler) { add(.post, path, handler) }
    func delete(_ path: String, _ handler: @escaping Handler) { add(.delete, path, handler) }
    func patch(_ path: String, _ handler: @escaping Handler) { add(.patch, path, handler) }

    private func add(_ method: HTTPRequest.Method, _ path: String, _ handler: @escaping Handler) {
        log.record(method: method.rawValue, path: "/api/" + path)
        group.on(RouterPath(path), method: method, use: handler)
    }
}

/// Routes as (method, path) with `:name` parameters written `{name}`, as OpenAPI writes them.
final class RouteLog: @unchecked Sendable {
    private let lock = NSLock()
    private var entries: Set<String> = []

    func record(method: String, path: String) {
        let openAPIPath = path.split(separator: "/", omittingEmptySubsequences: false)
            .map { $0.hasPrefix(":") ? "{\($0.dropFirst())}" : String($0) }.joined(separator: "/")
        lock.lock()
        entries.insert("\(method.uppercased()) \(openAPIPath)")
        lock.unlock()
    }

    /// "METHOD /api/path" strings.
    var routes: Set<String> {
        lock.lock()
        defer { lock.unlock() }
        return entries
    }
}
