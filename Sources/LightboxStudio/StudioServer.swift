import Foundation
import Hummingbird

/// Starts the Studio: the API and page on `host:port` until the process is stopped.
public enum StudioServer {
    public static func run(host: String, port: Int, settings: StudioSettings) async throws {
        if host != "127.0.0.1" && host != "localhost" && host != "::1" && (settings.token ?? "").isEmpty {
            throw StudioError(.forbidden, "listening on \(host) needs --token (or LIGHTBOX_TOKEN): anyone who can reach it could use the API")
        }
        let api = try StudioAPI(settings: settings)
        let app = Application(router: api.router(),
                              configuration: .init(address: .hostname(host, port: port), serverName: "Lightbox Studio"))
        try await app.runService()
    }
}
