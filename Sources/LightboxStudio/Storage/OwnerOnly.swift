import Foundation

/// The data directory holds patients' pictures: only its owner may enter it or read what it
/// holds. Folders are 0700 and files 0600; `lightbox serve` also sets the umask to 077, so that
/// whatever else the process writes there (runs, exports) is created the same way.
enum OwnerOnly {
    static let folderMode: mode_t = 0o700
    static let fileMode: mode_t = 0o600

    /// Creates `folder` (and missing parents) owner-only, whatever the umask.
    static func createFolder(_ folder: URL) throws {
        try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true,
                                                attributes: [.posixPermissions: Int(folderMode)])
        guard chmod(folder.path, folderMode) == 0 else {
            throw CocoaError(.fileWriteNoPermission, userInfo: [NSFilePathErrorKey: folder.path])
        }
    }

    /// Takes group and other permissions off `root` and everything under it (links are left
    /// alone, never followed); the entries it changed, by path relative to `root`.
    static func tighten(_ root: URL) -> [String] {
        var changed: [String] = []
        func visit(_ path: String, _ relative: String) {
            var info = stat()
            guard lstat(path, &info) == 0 else { return }
            let kind = info.st_mode & S_IFMT
            guard kind == S_IFDIR || kind == S_IFREG else { return }
            if info.st_mode & 0o077 != 0, chmod(path, info.st_mode & 0o700) == 0 { changed.append(relative.isEmpty ? "." : relative) }
            guard kind == S_IFDIR, let entries = try? FileManager.default.contentsOfDirectory(atPath: path) else { return }
            for entry in entries {
                visit((path as NSString).appendingPathComponent(entry), relative.isEmpty ? entry : relative + "/" + entry)
            }
        }
        visit(root.path, "")
        return changed
    }
}
