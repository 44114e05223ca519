import Foundation
import Hummingbird

/// Turns every error into `{"error": "message"}` with a fitting status; nothing escapes as a crash.
struct ErrorMiddleware: RouterMiddleware {
    typealias Context = StudioRequestContext

    func handle(_ request: Request, context: Context, next: (Request, Context) async throws -> Response) async throws -> Response {
        do {
            return try await next(request, context)
        } catch let e as StudioError {
            let status: HTTPResponse.Status
            switch e.kind {
            case .badRequest: status = .badRequest
            case .unauthorized: status = .unauthorized
            case .unsupportedMediaType: status = .unsupportedMediaType
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
            context.logger.error("request failed: \(error)")
            // Lightbox's own errors say what went wrong; others (Foundation's, NIO's) would only
            // leak internal error domains.
            if String(reflecting: type(of: error)).hasPrefix("Lightbox") {
                return Self.error(String(describing: error), .internalServerError)
            }
            return Self.error("the server could not complete this request", .internalServerError)
        }
    }

    static func error(_ message: String, _ status: HTTPResponse.Status) -> Response {
        let data = (try? ResponseJSON.encode(ErrorResponse(error: message))) ?? Data("{}".utf8)
        return Response(status: status, headers: [.contentType: "application/json"], body: .init(byteBuffer: ByteBuffer(bytes: data)))
    }
}
