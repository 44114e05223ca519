import Foundation
import GRDB
import LightboxCore

/// What a killed server leaves in its data directory, found and removed when the next one
/// opens it: files no row refers to, which no API call can reach.
extension StudioStore {
    /// Removes image files no image row names (an upload killed between its file and its
    /// row), run folders and data set lists of runs that no longer exist (a deletion killed
    /// between the row and the folder), and temporaries of atomic writes whose writer has
    /// ended. Runs in a write transaction: GRDB's are immediate, so another server on the same
    /// directory cannot be between an image's file and its row meanwhile. One notice per kind
    /// of leftover removed.
    func removeLeftovers() throws -> [String] {
        try db.write { db in
            let pictures = Set(try String.fetchAll(db, sql: "SELECT DISTINCT sha256 FROM image"))
            let runs = Set(try Int64.fetchAll(db, sql: "SELECT id FROM run"))
            var notices: [String] = []
            let temporaries = Self.removeStaleTemporaries(under: directory)
            if temporaries > 0 {
                notices.append("\(directory.path): removed \(temporaries) temporary files of writes a stopped server never finished")
            }
            var orphans = 0
            let images = directory.appendingPathComponent("images")
            for fan in Self.entries(images) where fan.count == 2 && Self.isLowerHex(fan) {
                let folder = images.appendingPathComponent(fan)
                for name in Self.entries(folder) where name.count == 64 && name.hasPrefix(fan) && Self.isLowerHex(name) && !pictures.contains(name) {
                    if (try? FileManager.default.removeItem(at: folder.appendingPathComponent(name))) != nil { orphans += 1 }
                }
                if Self.entries(folder).isEmpty { try? FileManager.default.removeItem(at: folder) }
            }
            if orphans > 0 {
                notices.append("\(directory.path): removed \(orphans) stored pictures no project holds (uploads a stopped server never finished)")
            }
            var runLeftovers = 0
            for name in Self.entries(directory.appendingPathComponent("runs")) {
                guard let id = Int64(name), !runs.contains(id) else { continue }
                if (try? FileManager.default.removeItem(at: runDirectory(id))) != nil { runLeftovers += 1 }
            }
            for name in Self.entries(directory) where name.hasPrefix("dataset-run-") && name.hasSuffix(".csv") {
                guard let id = Int64(name.dropFirst("dataset-run-".count).dropLast(".csv".count)), !runs.contains(id) else { continue }
                if (try? FileManager.default.removeItem(at: runDatasetList(id))) != nil { runLeftovers += 1 }
            }
            if runLeftovers > 0 {
                notices.append("\(directory.path): removed \(runLeftovers) files and folders of deleted runs")
            }
            return notices
        }
    }

    /// Temporaries (`.NAME.tmp-PID-RANDOM@HOST`, from `AtomicFile` and `AtomicDirectory`) under
    /// `folder` whose writer is gone, removed by the rule `StaleTemporaries` applies to each
    /// name; how many went. Links are not followed.
    static func removeStaleTemporaries(under folder: URL) -> Int {
        var removed = 0
        for name in entries(folder) {
            let path = folder.appendingPathComponent(name)
            if name.hasPrefix("."), let marker = name.range(of: ".tmp-", options: .backwards) {
                StaleTemporaries.remove(for: String(name[name.index(after: name.startIndex)..<marker.lowerBound]), in: folder)
                if !FileManager.default.fileExists(atPath: path.path) {
                    removed += 1
                    continue
                }
            }
            var info = stat()
            if lstat(path.path, &info) == 0, info.st_mode & S_IFMT == S_IFDIR { removed += removeStaleTemporaries(under: path) }
        }
        return removed
    }

    static func entries(_ folder: URL) -> [String] { (try? FileManager.default.contentsOfDirectory(atPath: folder.path)) ?? [] }

    static func isLowerHex(_ s: String) -> Bool { s.utf8.allSatisfy { (48...57).contains($0) || (97...102).contains($0) } }
}
