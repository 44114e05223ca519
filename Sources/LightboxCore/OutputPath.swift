import Foundation

/// The one rule for where Lightbox writes: an output replaces only what it is (a regular file,
/// or a folder), never a FIFO, a device or a socket (as root, `--out /dev/null` would otherwise
/// become a regular file through the atomic rename), and a place that cannot be written is
/// refused before the work, not after it. Commands call `check` on every output before any
/// work; `AtomicFile` and `AtomicDirectory` call `checkExisting` before each rename.
public enum OutputPath {
    public enum Kind: Sendable { case file, folder }

    /// The name (`FileNames`), what is there already (`checkExisting`), and that the folder it
    /// goes into can be written: the nearest folder that exists on the way to it takes a new file.
    public static func check(_ path: String, as kind: Kind) throws {
        try FileNames.check(path)
        try checkExisting(path, as: kind)
        try checkWritable(path)
    }

    /// Refuses an existing `path` that is not a `kind` (after links: a link to /dev/null is a
    /// device). Nothing there is fine.
    public static func checkExisting(_ path: String, as kind: Kind) throws {
        var info = stat()
        guard stat(path, &info) == 0 else { return }
        let type = info.st_mode & S_IFMT
        guard type != (kind == .file ? S_IFREG : S_IFDIR) else { return }
        throw OutputPathError.notReplaceable(path: path, found: name(of: type), wanted: kind)
    }

    static func checkWritable(_ path: String) throws {
        var folder = parent(of: path)
        var info = stat()
        // Folders the write would create: the first one that exists decides.
        while stat(folder, &info) != 0 {
            let up = parent(of: folder)
            if up == folder { break }
            folder = up
        }
        guard info.st_mode & S_IFMT == S_IFDIR else { throw OutputPathError.notAFolder(path: path, folder: folder) }
        // Permission bits do not say enough (root, read-only mounts, immutable folders): make a file.
        let probe = (folder as NSString).appendingPathComponent(StaleTemporaries.temporaryName(for: "lightbox-write-check"))
        let fd = open(probe, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0o600)
        guard fd >= 0 else {
            throw OutputPathError.notWritable(path: path, folder: folder, reason: String(cString: strerror(errno)))
        }
        close(fd)
        unlink(probe)
    }

    static func parent(of path: String) -> String {
        let up = (path as NSString).deletingLastPathComponent
        return up.isEmpty ? "." : up
    }

    static func name(of type: mode_t) -> String {
        switch type {
        case S_IFREG: return "regular file"
        case S_IFDIR: return "folder"
        case S_IFIFO: return "FIFO"
        case S_IFCHR: return "character device"
        case S_IFBLK: return "block device"
        case S_IFSOCK: return "socket"
        default: return "special file"
        }
    }
}

public enum OutputPathError: Error, CustomStringConvertible, Equatable {
    /// Something is there that an output must not replace.
    case notReplaceable(path: String, found: String, wanted: OutputPath.Kind)
    /// On the way to the output, a path that is not a folder.
    case notAFolder(path: String, folder: String)
    case notWritable(path: String, folder: String, reason: String)

    public var description: String {
        switch self {
        case .notReplaceable(let path, let found, let wanted):
            let what = wanted == .file ? "a regular file" : "a folder"
            return "\(path) is a \(found), not \(what); Lightbox replaces only \(what) there: choose another path"
        case .notAFolder(let path, let folder):
            return "\(path) cannot be written: \(folder) is not a folder"
        case .notWritable(let path, let folder, let reason):
            return "\(path) cannot be written: \(folder): \(reason)"
        }
    }
}
