import ArgumentParser
import Foundation
import LightboxKernels
import LightboxModels
import LightboxCore
import LightboxData
import LightboxStudio

struct Serve: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Start Lightbox Studio: a local web page and REST API for the whole workflow.",
        discussion: """
            Prints a login URL, http://HOST:PORT/?token=TOKEN: opening it gives the browser a session cookie. \
            The token is --token, else --token-file, else $LIGHTBOX_TOKEN; with none of them (loopback only) \
            it is the one kept in the data directory (DIR/studio-token, owner-only), made at the first start, \
            so the login URL stays the same; --new-token replaces it. A stored token file others could read \
            or change, or that holds no token, is refused (start with --new-token). \
            The API accepts the cookie or Authorization: Bearer TOKEN and is described at /api/openapi.json. \
            Not a diagnostic device.
            """)

    @Option(help: "Address to listen on. Anything but loopback needs a token you chose ($LIGHTBOX_TOKEN, --token-file or --token); put a TLS reverse proxy in front.")
    var host = "127.0.0.1"

    @Option(help: "Port (1-65535; 0 picks a free one and prints it).")
    var port = 8080

    @Option(help: "Where projects, images and runs are kept (default: $LIGHTBOX_HOME/studio).")
    var dataDir: String?

    @Option(help: "Access token. Visible to other users in the process list: prefer $LIGHTBOX_TOKEN or --token-file.")
    var token: String?

    @Option(help: "A file holding the access token (kept out of the process list).")
    var tokenFile: String?

    @Flag(help: "Replace the token kept in the data directory (DIR/studio-token) with a new one: the old login URL, and every browser logged in with it, stop working. Not with --token, --token-file, $LIGHTBOX_TOKEN or --no-token.")
    var newToken = false

    @Flag(help: "No token at all: for a trusted single-user machine, on loopback only. Any web page you visit could then use the Studio's API if it gets past the Host and Origin checks.")
    var noToken = false

    @Option(help: "A host name (or name:port) requests may use besides 127.0.0.1, localhost and [::1], e.g. the name of a reverse proxy (repeatable).")
    var allowHost: [String] = []

    @Option(help: "A folder whose data sets may be imported from the server's disk (repeatable).")
    var importRoot: [String] = []

    @Option(help: "A copy of the covid-chestxray-dataset (a folder with metadata.csv and images/) the Studio's sample project is taken from (default: $LIGHTBOX_DATA when it is one, else the cached public copy, downloaded from $LIGHTBOX_DATA_URL when the page asks for it).")
    var sampleData: String?

    @Option(help: "Largest upload, in MiB.")
    var maxUploadMb = 32

    @Option(help: "Memory all image decodes in flight may use together, in MiB; a picture needing more is refused (413).")
    var decodeMemoryMb = 1024

    @OptionGroup var precisionOption: PrecisionOption

    @Option(help: "Seconds a connection may stay silent (this also bounds how long request headers may take).")
    var idleTimeout = 30

    func validate() throws {
        guard (0...65535).contains(port) else { throw ValidationError("--port must be 0-65535 (got \(port))") }
        guard maxUploadMb >= 1, maxUploadMb <= 4096 else { throw ValidationError("--max-upload-mb must be 1-4096") }
        guard decodeMemoryMb >= 16 else { throw ValidationError("--decode-memory-mb must be at least 16") }
        guard idleTimeout >= 1, idleTimeout <= 3600 else { throw ValidationError("--idle-timeout must be 1-3600 seconds") }
    }

    func run() throws {
        // Who may connect is settled before anything is created or opened.
        var access: StudioAccess
        do {
            access = try StudioAccess.resolve(host: host, flag: token, file: tokenFile,
                                              environment: ProcessInfo.processInfo.environment["LIGHTBOX_TOKEN"], noToken: noToken)
            if newToken, !access.generated {
                throw StudioError(.badRequest, "--new-token replaces the token kept in the data directory; it cannot be combined with --token, --token-file, LIGHTBOX_TOKEN or --no-token")
            }
        } catch {
            throw Terminal.fail(error)
        }
        // The sample project's data set: --sample-data (checked before anything is created), else
        // $LIGHTBOX_DATA when it is a covid-chestxray-dataset folder, else the cache's copy.
        var sampleFolder: String?
        if let sampleData {
            guard PublicDataset.isCopy(at: sampleData) else {
                throw Terminal.fail(StudioError(.badRequest, "--sample-data \(sampleData): no metadata.csv there (not a covid-chestxray-dataset folder)"))
            }
            sampleFolder = sampleData
        } else if let data = ProcessInfo.processInfo.environment["LIGHTBOX_DATA"], !data.isEmpty, PublicDataset.isCopy(at: data) {
            sampleFolder = data
        }
        ProcessArguments.hideValue(of: "--token")
        // Patients' pictures: whatever this process creates (the data directory's runs and
        // exports, the caches) is its owner's alone. The Studio also sets its files' modes.
        umask(0o077)
        var settings = StudioSettings(dataDirectory: URL(fileURLWithPath: dataDir ?? LightboxStudioPaths.defaultDataDirectory(in: Lightbox.settings)),
                                      access: access,
                                      runSettings: precisionOption.settings(Lightbox.settings))
        // The data folder is where every project, upload and run is written: checked before the server starts.
        do { try OutputPath.check(settings.dataDirectory.path, as: .folder) } catch { throw Terminal.fail(error) }
        // No token given: the one kept in the data directory, so the login URL stays the same.
        if access.generated {
            do {
                let stored = try StoredToken.load(in: settings.dataDirectory, renew: newToken)
                access = StudioAccess(token: stored.token, generated: true)
                settings.access = access
                if stored.created {
                    Terminal.note("a new access token is kept in \(StoredToken.file(in: settings.dataDirectory).path) (owner-only): the login URL stays the same at each start until --new-token replaces it")
                }
            } catch {
                throw Terminal.fail(error)
            }
        }
        settings.port = port
        settings.allowedHosts = allowHost
        if !StudioAccess.isLoopback(host), !["0.0.0.0", "::", "[::]"].contains(host) { settings.allowedHosts.append(host) }
        settings.importRoots = importRoot
        settings.sampleData = sampleFolder
        settings.maxUploadBytes = maxUploadMb << 20
        settings.decodeMemoryBytes = decodeMemoryMb << 20
        settings.idleTimeoutSeconds = idleTimeout
        let host = self.host, port = self.port, importRoot = self.importRoot, dataPath = settings.dataDirectory.path
        if access.token == nil {
            Terminal.note("warning: --no-token: any program or web page that can reach 127.0.0.1 past the Host and Origin checks can use this Studio")
        }
        let loginToken = access.token
        let precisionNote = precisionOption.note(defaultFallback: true)
        final class Outcome: @unchecked Sendable { var error: Error? }
        let outcome = Outcome()
        let done = DispatchSemaphore(value: 0)
        Task {
            do {
                try await StudioServer.run(host: host, port: port, settings: settings, notice: { Terminal.note($0) }) { base in
                    let login = loginToken.map { "\(base)?token=\($0)" } ?? base
                    Terminal.note("Lightbox Studio: open \(login)  (data: \(dataPath))")
                    // Also on standard output, for scripts that start the server and log in.
                    print("login: \(login)")
                    fflush(stdout)
                    if importRoot.isEmpty {
                        Terminal.note("importing data sets from this machine's disk is off: restart with --import-root DIR to allow a folder (e.g. --import-root ../shared/data)")
                    } else {
                        Terminal.note("data sets may be imported from: \(importRoot.joined(separator: ", "))")
                    }
                    if let precisionNote { Terminal.note(precisionNote) }
                }
            } catch { outcome.error = error }
            done.signal()
        }
        done.wait()
        if let error = outcome.error { throw Terminal.fail(error) }
    }
}
