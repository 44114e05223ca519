import Foundation
import Hummingbird

extension Request {
    /// Decodes a JSON body, only when it is sent as `application/json`: a cross-site form or
    /// a `text/plain` request (which browsers send without asking) is refused with 415.
    mutating func decodeJSON<T: Decodable>(as type: T.Type, context: StudioRequestContext) async throws -> T {
        let mediaType = (headers[.contentType] ?? "").split(separator: ";").first.map {
            $0.trimmingCharacters(in: .whitespaces).lowercased()
        }
        guard mediaType == "application/json" else {
            throw StudioError(.unsupportedMediaType, "send the request body as JSON (Content-Type: application/json)")
        }
        let buffer = try await collectBody(upTo: 1 << 20)
        do {
            return try JSONDecoder().decode(T.self, from: Data(buffer.readableBytesView))
        } catch let e as DecodingError {
            throw StudioError(.badRequest, "request body is not the expected JSON (\(Self.describe(e)))")
        }
    }

    static func describe(_ e: DecodingError) -> String {
        switch e {
        case .typeMismatch(_, let c), .valueNotFound(_, let c), .keyNotFound(_, let c), .dataCorrupted(let c):
            let path = c.codingPath.map(\.stringValue).joined(separator: ".")
            return path.isEmpty ? c.debugDescription : "\(path): \(c.debugDescription)"
        @unknown default:
            return "\(e)"
        }
    }
}
