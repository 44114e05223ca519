import ArgumentParser
import Foundation
import LightboxKernels
import LightboxStudio

struct Serve: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Start Lightbox Studio: a local web page and REST API for the whole workflow.",
        discussion: "Open http://HOST:PORT/ in a browser. The API is described at /api/openapi.json. Not a diagnostic device.")

    @Option(help: "Address to listen on (anything but loopback needs --token).")
    var host = "127.0.0.1"

    @Option(help: "Port.")
    var port = 8080

    @Option(help: "Where projects, images and runs are kept (default: $LIGHTBOX_HOME/studio).")
    var dataDir: String?

    @Option(help: "Access token for the API (or $LIGHTBOX_TOKEN): requests then need Authorization: Bearer TOKEN.")
    var token: String?

    @Option(help: "A folder whose data sets may be imported from the server's disk (repeatable).")
    var importRoot: [String] = []

    @Option(help: "Largest upload, in MiB.")
    var maxUploadMb = 32

    func run() throws {
        KernelThreads.set(KernelThreads.available)
        var settings = StudioSettings(dataDirectory: URL(fileURLWithPath: dataDir ?? (LightboxStudioPaths.defaultDataDirectory)))
        settings.token = token ?? ProcessInfo.processInfo.environment["LIGHTBOX_TOKEN"].flatMap { $0.isEmpty ? nil : $0 }
        settings.importRoots = importRoot
        settings.maxUploadBytes = max(1, maxUploadMb) << 20
        let host = self.host, port = self.port
        Terminal.note("Lightbox Studio on http://\(host.contains(":") ? "[\(host)]" : host):\(port)/  (data: \(settings.dataDirectory.path))")
        if importRoot.isEmpty {
            Terminal.note("importing data sets from this machine's disk is off: restart with --import-root DIR to allow a folder (e.g. --import-root ../shared/data)")
        } else {
            Terminal.note("data sets may be imported from: \(importRoot.joined(separator: ", "))")
        }
        final class Outcome: @unchecked Sendable { var error: Error? }
        let outcome = Outcome()
        let done = DispatchSemaphore(value: 0)
        Task {
            do { try await StudioServer.run(host: host, port: port, settings: settings) } catch { outcome.error = error }
            done.signal()
        }
        done.wait()
        if let error = outcome.error { throw Terminal.fail(error) }
    }
}
