import Foundation
#if canImport(FoundationNetworking)
import FoundationNetworking
#endif
import LightboxCore
import ZIPFoundation

/// The public covid-chestxray-dataset (Cohen et al.), downloaded once into the cache when no
/// data set is given. The settings' `dataURL` (`LIGHTBOX_DATA_URL` for the CLI) points the
/// download elsewhere (a mirror, a local file or server).
public enum PublicDataset {
    /// Where the unpacked data set lives in the cache `home`.
    public static func directory(home: String) -> String {
        (home as NSString).appendingPathComponent("data/covid-chestxray-dataset")
    }

    /// Whether `folder` holds a copy of the data set (its metadata.csv): the cache's, or one an
    /// operator points the Studio's sample project at.
    public static func isCopy(at folder: String) -> Bool {
        FileManager.default.fileExists(atPath: (folder as NSString).appendingPathComponent("metadata.csv"))
    }

    /// The cached data set in `directory`, downloading it from `url` and unpacking it first if needed.
    /// `progress` gets the bytes received so far and the total when the server says it (else 0 or less).
    public static func ensure(url: String, directory target: String,
                              log: (String) -> Void, progress: ((Int64, Int64) -> Void)? = nil) throws -> String {
        if isCopy(at: target) { return target }
        log("no data set given: downloading the public covid-chestxray-dataset from \(url)")
        let archive = try download(url, progress: progress)
        defer { try? FileManager.default.removeItem(at: archive) }
        try unpack(archive, to: target)
        log("data set ready at \(target)")
        return target
    }

    /// A connection silent this long ends the download with an error (an unreachable or stalled server).
    static let silenceSeconds: TimeInterval = 30

    static func download(_ address: String, progress: ((Int64, Int64) -> Void)? = nil) throws -> URL {
        guard let source = URL(string: address) else { throw DatasetError("LIGHTBOX_DATA_URL '\(address)' is not a URL") }
        let hint = "pass --data DIR (for example ../shared/data/covid-chestxray) or set LIGHTBOX_DATA; this machine may be offline"
        if source.isFileURL {
            guard FileManager.default.fileExists(atPath: source.path) else { throw DatasetError("\(source.path): no such file; \(hint)") }
            let copy = FileManager.default.temporaryDirectory.appendingPathComponent("lightbox-data-\(UUID().uuidString).zip")
            try FileManager.default.copyItem(at: source, to: copy)
            return copy
        }
        /// Filled by the download's completion handler, read after it has signalled.
        final class Outcome: @unchecked Sendable { var result: Result<URL, Error> = .failure(DatasetError("download did not finish")) }
        let done = DispatchSemaphore(value: 0)
        let outcome = Outcome()
        let configuration = URLSessionConfiguration.ephemeral
        configuration.timeoutIntervalForRequest = silenceSeconds
        let session = URLSession(configuration: configuration)
        defer { session.finishTasksAndInvalidate() }
        let task = session.downloadTask(with: source) { location, response, error in
            defer { done.signal() }
            if let error { outcome.result = .failure(error); return }
            if let http = response as? HTTPURLResponse, !(200..<300).contains(http.statusCode) {
                outcome.result = .failure(DatasetError("HTTP \(http.statusCode)"))
                return
            }
            guard let location else { outcome.result = .failure(DatasetError("no file received")); return }
            let kept = FileManager.default.temporaryDirectory.appendingPathComponent("lightbox-data-\(UUID().uuidString).zip")
            do {
                try FileManager.default.moveItem(at: location, to: kept)
                outcome.result = .success(kept)
            } catch {
                outcome.result = .failure(error)
            }
        }
        task.resume()
        while done.wait(timeout: .now() + 0.5) == .timedOut {
            progress?(task.countOfBytesReceived, task.countOfBytesExpectedToReceive)
        }
        switch outcome.result {
        case .success(let file): return file
        case .failure(let error):
            throw DatasetError("could not download \(address) (\(error.localizedDescription)): \(hint)")
        }
    }

    /// Unpacks the archive and moves the folder holding metadata.csv to `target` in one rename.
    static func unpack(_ archive: URL, to target: String) throws {
        let fm = FileManager.default
        let staging = URL(fileURLWithPath: target).deletingLastPathComponent()
            .appendingPathComponent(".unpack-\(getpid())-\(UUID().uuidString)")
        try fm.createDirectory(at: staging, withIntermediateDirectories: true)
        defer { try? fm.removeItem(at: staging) }
        do {
            try fm.unzipItem(at: archive, to: staging)
        } catch {
            throw DatasetError("\(archive.path): the downloaded file is not a readable zip archive")
        }
        let candidates = [staging] + ((try? fm.contentsOfDirectory(at: staging, includingPropertiesForKeys: nil)) ?? [])
        guard let root = candidates.first(where: { fm.fileExists(atPath: $0.appendingPathComponent("metadata.csv").path) }) else {
            throw DatasetError("the downloaded archive has no metadata.csv: not the covid-chestxray-dataset")
        }
        if fm.fileExists(atPath: target) { try fm.removeItem(atPath: target) }
        try fm.moveItem(at: root, to: URL(fileURLWithPath: target))
    }
}
