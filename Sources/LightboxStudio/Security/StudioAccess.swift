import Foundation
import LightboxCore
import LightboxModels

/// Who may use a running Studio: the access token and where it came from. A browser trades
/// the token for a session cookie (`StudioSessions`).
public struct StudioAccess: Sendable, Equatable {
    /// The token every `/api/` request must prove (cookie or `Authorization: Bearer`);
    /// nil only with `--no-token` on loopback.
    public var token: String?
    /// Not chosen by the operator: made up by the Studio (`lightbox serve` keeps it in the data
    /// directory, `StoredToken`, and prints it in the login URL).
    public var generated: Bool

    public init(token: String?, generated: Bool = false) {
        self.token = token
        self.generated = generated
    }

    /// Picks the token as `lightbox serve` documents it: `--token`, else `--token-file`, else
    /// `$LIGHTBOX_TOKEN`, else one generated now. A generated token (or none, with
    /// `--no-token`) serves loopback only: any other address needs a token the operator chose.
    /// Checked before anything is created or opened.
    public static func resolve(host: String, flag: String?, file: String?, environment: String?,
                               noToken: Bool) throws -> StudioAccess {
        let access = try chosen(host: host, flag: flag, file: file, environment: environment, noToken: noToken)
        // Reachable from other machines, a short token could be guessed request by request.
        if let token = access.token, !isLoopback(host), token.count < 32 {
            throw StudioError(.badRequest, "listening on \(host) needs a token of at least 32 characters (e.g. `openssl rand -hex 32`)")
        }
        return access
    }

    static func chosen(host: String, flag: String?, file: String?, environment: String?, noToken: Bool) throws -> StudioAccess {
        let chosen = [flag, environment].contains { !($0 ?? "").isEmpty } || file != nil
        if noToken {
            guard !chosen else { throw StudioError(.badRequest, "--no-token cannot be combined with a token (--token, --token-file or LIGHTBOX_TOKEN)") }
            guard isLoopback(host) else {
                throw StudioError(.forbidden, "--no-token is for a trusted single-user machine on loopback only; listening on \(host) needs a token (LIGHTBOX_TOKEN or --token-file)")
            }
            return StudioAccess(token: nil)
        }
        if let flag, !flag.isEmpty { return StudioAccess(token: try checked(flag, from: "--token")) }
        if let file {
            guard let data = FileManager.default.contents(atPath: file), let text = String(data: data, encoding: .utf8) else {
                throw StudioError(.badRequest, "\(file): cannot read the token file")
            }
            return StudioAccess(token: try checked(text.trimmingCharacters(in: .whitespacesAndNewlines), from: file))
        }
        if let environment, !environment.isEmpty { return StudioAccess(token: try checked(environment, from: "LIGHTBOX_TOKEN")) }
        guard isLoopback(host) else {
            throw StudioError(.forbidden, "listening on \(host) needs a token you chose (LIGHTBOX_TOKEN, --token-file or --token): anyone who can reach it could use the API; put a TLS reverse proxy in front")
        }
        return StudioAccess(token: generateToken(), generated: true)
    }

    /// A token must be usable in a URL and a header as it is.
    static func checked(_ token: String, from source: String) throws -> String {
        guard token.count >= 8, token.count <= 512,
              token.unicodeScalars.allSatisfy({ $0.isASCII && $0.value > 0x20 && $0.value < 0x7F && !"%&#?;,\"\\".unicodeScalars.contains($0) })
        else {
            throw StudioError(.badRequest, "\(source): a token is 8-512 printable ASCII characters without spaces or any of % & # ? ; , \" \\")
        }
        return token
    }

    /// 32 random bytes as hex, from the system's cryptographic generator.
    public static func generateToken() -> String {
        var generator = SystemRandomNumberGenerator()
        return (0..<32).map { _ in String(format: "%02x", UInt8.random(in: .min ... .max, using: &generator)) }.joined()
    }

    /// 127.0.0.0/8, ::1 and localhost: addresses only this machine can reach.
    public static func isLoopback(_ host: String) -> Bool {
        let h = host.lowercased().trimmingCharacters(in: CharacterSet(charactersIn: "[]"))
        if h == "localhost" || h == "::1" { return true }
        let parts = h.split(separator: ".", omittingEmptySubsequences: false)
        return parts.count == 4 && parts[0] == "127" && parts.allSatisfy { UInt8($0) != nil }
    }

    // MARK: proving the token

    /// Whether `given` is the token, comparing in constant time (no early exit on the first
    /// differing byte, and the length difference folded in).
    static func constantTimeEqual(_ given: String, _ expected: String) -> Bool {
        let a = Array(given.utf8), b = Array(expected.utf8)
        var difference = a.count ^ b.count
        for i in 0..<b.count { difference |= Int(b[i] ^ (i < a.count ? a[i] : 0)) }
        return difference == 0
    }

    /// Whether a request proves the token, by `Authorization: Bearer TOKEN` or the cookie of a
    /// session opened with it (`StudioSessions`).
    func accepts(authorization: String?, cookie: String?, sessions: StudioSessions) -> Bool {
        guard let token else { return true }
        if let authorization, authorization.hasPrefix("Bearer "), Self.constantTimeEqual(String(authorization.dropFirst(7)), token) {
            return true
        }
        return cookie.map(sessions.isOpen) ?? false
    }

    /// One cookie per port: two Studios on one machine do not log each other out.
    static func cookieName(port: Int) -> String { "lightbox_studio_\(port)" }
}
