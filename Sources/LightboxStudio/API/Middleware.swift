import Foundation
import Hummingbird

/// Turns every error into `{"error": "message"}` with a fitting status; nothing escapes as a crash.
struct ErrorMiddleware: RouterMiddleware {
    typealias Context = BasicRequestContext

    func handle(_ request: Request, context: Context, next: (Request, Context) async throws -> Response) async throws -> Response {
        do {
            return try await next(request, context)
        } catch let e as StudioError {
            let status: HTTPResponse.Status
            switch e.kind {
            case .badRequest: status = .badRequest
            case .notFound: status = .notFound
            case .conflict: status = .conflict
            case .tooLarge: status = .contentTooLarge
            case .forbidden: status = .forbidden
            case .unavailable: status = .serviceUnavailable
            }
            return Self.error(e.description, status)
        } catch let e as HTTPError {
            return Self.error(e.body ?? "\(e.status.reasonPhrase)", e.status)
        } catch where String(describing: type(of: error)).contains("TooManyBytes") {
            // NIO's error when a body passes the collect limit.
            return Self.error("the upload is larger than the server's limit (--max-upload-mb)", .contentTooLarge)
        } catch let e as DecodingError {
            return Self.error("request body is not the expected JSON (\(e.localizedDescription))", .badRequest)
        } catch {
            return Self.error("\(error)", .internalServerError)
        }
    }

    static func error(_ message: String, _ status: HTTPResponse.Status) -> Response {
        let data = (try? JSONSerialization.data(withJSONObject: ["error": message])) ?? Data("{}".utf8)
        return Response(status: status, headers: [.contentType: "application/json"], body: .init(byteBuffer: ByteBuffer(bytes: data)))
    }
}

/// With a token set, `/api/` requests need `Authorization: Bearer TOKEN` (the page itself is public
/// and asks for the token once).
struct TokenMiddleware: RouterMiddleware {
    typealias Context = BasicRequestContext
    let token: String?

    func handle(_ request: Request, context: Context, next: (Request, Context) async throws -> Response) async throws -> Response {
        guard let token, request.uri.path.hasPrefix("/api/"), request.uri.path != "/api/openapi.json" else {
            return try await next(request, context)
        }
        let given = request.headers[.authorization] ?? ""
        // Constant-time comparison: no early exit on the first differing byte.
        let expected = Array("Bearer \(token)".utf8), actual = Array(given.utf8)
        var difference = expected.count ^ actual.count
        for i in 0..<expected.count { difference |= Int(expected[i] ^ (i < actual.count ? actual[i] : 0)) }
        guard difference == 0 else { return ErrorMiddleware.error("missing or wrong token (Authorization: Bearer ...)", .unauthorized) }
        return try await next(request, context)
    }
}
