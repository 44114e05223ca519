import Foundation
import HTTPTypes
import Hummingbird

/// The port the server actually listens on, known once the socket is bound (`--port 0` picks
/// a free one), read by every request's Host check.
final class BoundPort: @unchecked Sendable {
    private let lock = NSLock()
    private var value: Int

    init(_ port: Int) { value = port }

    var port: Int {
        get { lock.lock(); defer { lock.unlock() }; return value }
        set { lock.lock(); value = newValue; lock.unlock() }
    }
}

/// A request path as a server that decodes and normalises it would see it: percent-decoding
/// repeated until stable, backslashes as slashes, empty and `.` segments dropped, `..`
/// resolved, lowercased. Access rules are decided on this form, so that `//api`, `/api/./x`,
/// `/x/../api`, `/%61pi` or `/API` cannot slip past a check written for `/api/`.
struct CanonicalPath: Equatable {
    let segments: [String]

    init(_ raw: String) {
        var text = raw
        for _ in 0..<4 {
            guard let decoded = text.removingPercentEncoding, decoded != text else { break }
            text = decoded
        }
        var out: [String] = []
        for part in text.replacingOccurrences(of: "\\", with: "/").split(separator: "/") {
            switch part {
            case ".": continue
            case "..": _ = out.popLast()
            default: out.append(part.lowercased())
            }
        }
        segments = out
    }

    var isAPI: Bool { segments.first == "api" }
    /// The API's description is public; every other `/api/` path needs the token.
    var isPublicAPI: Bool { segments == ["api", "openapi.json"] }
}

/// The Studio's front door, run before routing on every request:
/// 1. Host must be loopback (127.0.0.1, localhost, [::1]) with the server's port, or a name
///    given with `--allow-host`: a page whose name was rebound to 127.0.0.1 is refused.
/// 2. An `Origin` other than the server's own is refused on the API and on every
///    state-changing request; so are browser requests the Fetch Metadata headers mark as
///    coming from another site (another port on 127.0.0.1 is "same-site", not same-origin).
/// 3. `/api/` (however the path is spelled) needs the token: an open session's cookie or
///    `Authorization: Bearer`. Only `/api/openapi.json` and the page are public.
struct RequestGuard: RouterMiddleware {
    typealias Context = StudioRequestContext
    let access: StudioAccess
    let sessions: StudioSessions
    /// Extra names (`--allow-host`), lowercased; with a port ("name:port") only that port.
    let allowedHosts: [String]
    let bound: BoundPort

    static let secFetchSite = HTTPField.Name("Sec-Fetch-Site")!
    /// HTTPTypes carries the first Host header as the authority; a second one stays a field.
    static let hostField = HTTPField.Name("Host")!

    func handle(_ request: Request, context: Context, next: (Request, Context) async throws -> Response) async throws -> Response {
        guard let host = Self.host(of: request) else {
            return ErrorMiddleware.error("the request has no single Host header", .badRequest)
        }
        guard isAllowed(host: host) else {
            return ErrorMiddleware.error("this Studio answers only to 127.0.0.1, localhost and [::1] on port \(bound.port), or to a name given with --allow-host", .forbidden)
        }
        let path = CanonicalPath(request.uri.path)
        let changesState = ![.get, .head, .options].contains(request.method)
        if let origin = request.headers[.origin], path.isAPI || changesState, !Self.sameOrigin(origin, host: host) {
            return ErrorMiddleware.error("cross-origin request refused (Origin \(origin.prefix(100)))", .forbidden)
        }
        if path.isAPI, let site = request.headers[Self.secFetchSite], site != "same-origin", site != "none" {
            return ErrorMiddleware.error("cross-site request refused (Sec-Fetch-Site: \(site.prefix(20)))", .forbidden)
        }
        if path.isAPI, !path.isPublicAPI, !Self.authenticated(request, access: access, sessions: sessions, port: bound.port) {
            return Self.unauthorized()
        }
        return try await next(request, context)
    }

    static func authenticated(_ request: Request, access: StudioAccess, sessions: StudioSessions, port: Int) -> Bool {
        access.accepts(authorization: request.headers[.authorization],
                       cookie: request.cookies[StudioAccess.cookieName(port: port)]?.value, sessions: sessions)
    }

    static func unauthorized() -> Response {
        var response = ErrorMiddleware.error(
            "log in: open the URL that `lightbox serve` printed (http://HOST:PORT/?token=...), or send Authorization: Bearer TOKEN",
            .unauthorized)
        response.headers[.wwwAuthenticate] = "Bearer realm=\"Lightbox Studio\""
        return response
    }

    /// The Host the client named: HTTP/1's Host header (carried as the request's authority).
    /// Two Host headers, or none, are refused.
    static func host(of request: Request) -> String? {
        let extra = request.headers[values: hostField]
        if let authority = request.head.authority {
            return extra.isEmpty ? authority : nil
        }
        return extra.count == 1 ? extra[0] : nil
    }

    func isAllowed(host: String) -> Bool {
        let h = host.lowercased()
        let (name, port) = Self.split(h)
        guard let name else { return false }
        if ["127.0.0.1", "localhost", "[::1]"].contains(name) {
            return port.map { $0 == bound.port } ?? (bound.port == 80)
        }
        return allowedHosts.contains(h) || allowedHosts.contains(name)
    }

    /// "name:port" into its parts; IPv6 literals keep their brackets. Nil name if malformed.
    static func split(_ host: String) -> (String?, Int?) {
        var name = Substring(host), port: Int? = nil
        if host.hasPrefix("[") {
            guard let close = host.firstIndex(of: "]") else { return (nil, nil) }
            name = host[...close]
            let rest = host[host.index(after: close)...]
            if !rest.isEmpty {
                guard rest.hasPrefix(":"), let p = Int(rest.dropFirst()) else { return (nil, nil) }
                port = p
            }
        } else if let colon = host.lastIndex(of: ":") {
            guard let p = Int(host[host.index(after: colon)...]) else { return (nil, nil) }
            name = host[..<colon]
            port = p
        }
        guard !name.isEmpty, port.map({ (1...65535).contains($0) }) ?? true else { return (nil, nil) }
        return (String(name), port)
    }

    static func sameOrigin(_ origin: String, host: String) -> Bool {
        let o = origin.lowercased(), h = host.lowercased()
        return o == "http://" + h || o == "https://" + h
    }
}

/// Headers on every response: a strict Content-Security-Policy (no inline script, no
/// framing), no MIME sniffing, no referrer, and nothing from the API kept in caches.
struct SecurityHeaders: RouterMiddleware {
    typealias Context = StudioRequestContext
    static let pagePolicy = "default-src 'self'; img-src 'self' data: blob:; frame-ancestors 'none'"
    static let referrerPolicy = HTTPField.Name("Referrer-Policy")!
    static let frameOptions = HTTPField.Name("X-Frame-Options")!

    func handle(_ request: Request, context: Context, next: (Request, Context) async throws -> Response) async throws -> Response {
        var response = try await next(request, context)
        if response.headers[.contentSecurityPolicy] == nil { response.headers[.contentSecurityPolicy] = Self.pagePolicy }
        response.headers[.xContentTypeOptions] = "nosniff"
        response.headers[Self.referrerPolicy] = "no-referrer"
        response.headers[Self.frameOptions] = "DENY"
        if CanonicalPath(request.uri.path).isAPI { response.headers[.cacheControl] = "no-store" }
        return response
    }
}

/// Defence in depth on the `/api` route group: whatever path the router matched, the handler
/// runs only for a request that proved the token.
struct APIAuthentication: RouterMiddleware {
    typealias Context = StudioRequestContext
    let access: StudioAccess
    let sessions: StudioSessions
    let bound: BoundPort

    func handle(_ request: Request, context: Context, next: (Request, Context) async throws -> Response) async throws -> Response {
        guard RequestGuard.authenticated(request, access: access, sessions: sessions, port: bound.port) else { return RequestGuard.unauthorized() }
        return try await next(request, context)
    }
}
