import Foundation
import LightboxCore
import LightboxData

/// The sample project (`SampleProject`): where its data set is, its download when it is not on
/// this machine, and its import. The client chooses nothing: the folder is the operator's
/// (`--sample-data`, `$LIGHTBOX_DATA`) or the cache's, the URL the settings'.
final class SampleData: @unchecked Sendable {
    /// The folder the operator gave (its metadata.csv checked at start), if any.
    let given: String?
    /// Where the download is unpacked (the cache the CLI's `train` fills too).
    let cache: String
    let url: String

    private let lock = NSLock()
    private var downloading = false
    private var received: Int64 = 0, expected: Int64 = 0
    private var failure: String?
    /// The pictures chosen from `chosenFrom`, read once.
    private var chosen: [SampleProject.Picture]?, chosenFrom: String?

    init(settings: StudioSettings) {
        given = settings.sampleData
        cache = PublicDataset.directory(home: settings.runSettings.home)
        url = settings.runSettings.dataURL
    }

    /// The data set's folder when it is on this machine.
    var directory: String? {
        if let given { return given }
        return PublicDataset.isCopy(at: cache) ? cache : nil
    }

    /// The pictures the sample takes from `directory` (chosen once, then remembered).
    func pictures(in directory: String) throws -> [SampleProject.Picture] {
        lock.lock()
        if chosenFrom == directory, let chosen { lock.unlock(); return chosen }
        lock.unlock()
        let pictures: [SampleProject.Picture]
        do { pictures = try SampleProject.select(from: directory) } catch { throw StudioError(.unavailable, "\(error)") }
        lock.lock()
        chosen = pictures; chosenFrom = directory
        lock.unlock()
        return pictures
    }

    /// What the page shows before an import: where the data is, the download's progress or
    /// failure, and (once the data is here) the classes and licences of the pictures offered.
    func status() -> SampleStatusResponse {
        let folder = directory
        var response = SampleStatusResponse(available: folder != nil)
        lock.lock()
        response.downloading = downloading
        response.receivedBytes = received
        response.expectedBytes = expected > 0 ? expected : nil
        response.error = failure
        lock.unlock()
        if let folder {
            response.location = folder == given ? "the copy the server was given" : "this machine's Lightbox cache"
            do {
                let pictures = try self.pictures(in: folder)
                response.perClass = Dictionary(grouping: pictures, by: \.label).mapValues(\.count)
                response.licences = SampleProject.licences(pictures).map { SampleLicence(license: $0.license, count: $0.count) }
            } catch {
                response.error = "\(error)"
            }
        } else {
            response.location = nil
        }
        return response
    }

    /// Starts downloading the data set into the cache in the background (nothing when a
    /// download is under way). Its progress and failure show in `status()`.
    func startDownload() {
        lock.lock()
        guard !downloading else { lock.unlock(); return }
        downloading = true; failure = nil; received = 0; expected = 0
        lock.unlock()
        let url = self.url, cache = self.cache
        let thread = Thread { [self] in
            var message: String?
            do {
                _ = try PublicDataset.ensure(url: url, directory: cache, log: { _ in }) { got, total in
                    self.lock.lock()
                    self.received = got; self.expected = total
                    self.lock.unlock()
                }
            } catch {
                message = "could not get the sample data from \(url): \(error). This computer may be offline: "
                    + "ask whoever started Lightbox to give it a local copy of the covid-chestxray-dataset "
                    + "(lightbox serve --sample-data DIR, a folder with metadata.csv and images/) "
                    + "or a reachable address (LIGHTBOX_DATA_URL), then try again."
            }
            lock.lock()
            downloading = false; failure = message
            lock.unlock()
        }
        thread.name = "lightbox-studio-sample-download"
        thread.start()
    }
}

extension Importer {
    /// Creates the sample project (named `SampleProject.name`, numbered when that is taken) and
    /// imports its pictures from `directory` through the checks every import makes; a failure
    /// that stops the import removes the half-made project.
    func importSample(_ pictures: [SampleProject.Picture], from directory: String) throws -> SampleImportResponse {
        try checkTable(of: directory, roots: roots.compactMap(RegularFile.realPath))
        var project: Project?
        for n in 1...50 where project == nil {
            do { project = try store.createProject(name: n == 1 ? SampleProject.name : "\(SampleProject.name) (\(n))") } catch let e as StudioError where e.kind == .conflict {
                continue
            }
        }
        guard let project, let id = project.id else { throw StudioError(.conflict, "there are already 50 sample projects: delete some first") }
        do {
            let result = try importImages(pictures.map { (path: $0.path, label: $0.label, group: "patient:\($0.patient)" as String?) }, projectId: id)
            let imported = pictures.filter { result.importedPaths.contains($0.path) }
            return SampleImportResponse(project: ProjectResponse(project), imported: result.imported, perClass: result.perClass,
                                        licences: SampleProject.licences(imported).map { SampleLicence(license: $0.license, count: $0.count) },
                                        skipped: result.skipped)
        } catch {
            try? store.deleteProject(id)
            throw error
        }
    }
}

struct SampleLicence: Encodable, Sendable {
    var license: String
    var count: Int
}

/// `GET /api/sample-project`.
struct SampleStatusResponse: Encodable, Sendable {
    var name = SampleProject.name
    var source = SampleProject.source
    var sourceURL = SampleProject.sourceURL
    var perClassWanted = SampleProject.perClass
    /// The data set is on this machine: an import starts at once.
    var available: Bool
    /// Where it is ("the copy the server was given", "this machine's Lightbox cache"), when here.
    var location: String?
    var downloading = false
    var receivedBytes: Int64 = 0
    var expectedBytes: Int64?
    /// Why the last download (or reading the data set) failed, and what to do.
    var error: String?
    /// The pictures offered per class, and per licence (metadata.csv's `license` column).
    var perClass: [String: Int]?
    var licences: [SampleLicence]?
}

/// `POST /api/sample-project` when the import ran.
struct SampleImportResponse: Encodable, Sendable {
    var project: ProjectResponse
    var imported: Int
    var perClass: [String: Int]
    /// The imported pictures per licence.
    var licences: [SampleLicence]
    var skipped: [ImportResponse.Skipped]
    var source = SampleProject.source
    var sourceURL = SampleProject.sourceURL
}
