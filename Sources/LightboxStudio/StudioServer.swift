import Foundation
import Hummingbird
import NIOCore

/// Starts the Studio: the API and page on `host:port` until the process is stopped.
public enum StudioServer {
    /// `notice` gets what opening the data directory repaired (`StudioStore.startupNotices`);
    /// `onListening` gets the base URL once the socket is bound (with the port `--port 0` got).
    public static func run(host: String, port: Int, settings: StudioSettings,
                           notice: @escaping @Sendable (String) -> Void = { _ in },
                           onListening: @escaping @Sendable (_ baseURL: String) -> Void = { _ in }) async throws {
        if settings.access.token == nil && !StudioAccess.isLoopback(host) {
            throw StudioError(.forbidden, "listening on \(host) needs a token: anyone who can reach it could use the API")
        }
        let api = try StudioAPI(settings: settings)
        api.store.startupNotices.forEach(notice)
        try await run(api: api, host: host, port: port, settings: settings, onListening: onListening)
    }

    /// The same with an API already made (tests look into its decoding gate).
    static func run(api: StudioAPI, host: String, port: Int, settings: StudioSettings,
                    onListening: @escaping @Sendable (_ baseURL: String) -> Void) async throws {
        let app = Application(
            router: api.router(),
            server: .http1(configuration: .init(additionalChannelHandlers: [ClientConnectionWatch()],
                                                 idleTimeout: .seconds(Int64(max(1, settings.idleTimeoutSeconds))))),
            configuration: .init(address: .hostname(host, port: port), serverName: "Lightbox Studio"),
            onServerRunning: { channel in
                let bound = channel.localAddress?.port ?? port
                api.listening(on: bound)
                // A wildcard address is not a name a browser can use (nor one the Host check takes).
                let shown = ["0.0.0.0", "::", "[::]"].contains(host) ? "127.0.0.1" : host
                onListening("http://\(shown.contains(":") ? "[\(shown)]" : shown):\(bound)/")
            })
        try await app.runService()
    }
}
