import Foundation

/// Reads files that must lie inside a folder someone else filled (a model folder, a zip
/// unpacked, the Studio's import roots) without trusting what the folder holds: the path, every
/// link resolved, must stay under one of the allowed roots; the file is opened without
/// following a link at its last step (O_NOFOLLOW) and checked once more through the
/// descriptor, so a link swapped in meanwhile is refused too; it must be a regular file (FIFOs,
/// devices and directories are refused without blocking) of at most `maxBytes`. Refusals say
/// what is wrong in words and never quote the file's bytes.
public enum ContainedFile {
    public struct Refusal: Error, CustomStringConvertible {
        /// The reason, without the path (callers put the path they were given in front).
        public let description: String
    }

    /// The bytes of `name` in `folder` (a relative path, which may name a subfolder).
    public static func read(_ name: String, in folder: String, maxBytes: Int) throws -> Data {
        guard let root = realPath(folder) else { throw Refusal(description: "the folder cannot be resolved") }
        return try read((folder as NSString).appendingPathComponent(name), roots: [root], maxBytes: maxBytes)
    }

    /// The bytes of the regular file `path` named by the user (a link to one is followed: the
    /// folder it is in is its root), at most `maxBytes`: a FIFO, a device or a folder is refused
    /// without blocking.
    public static func read(userFile path: String, maxBytes: Int) throws -> Data {
        let folder = (path as NSString).deletingLastPathComponent
        return try read((path as NSString).lastPathComponent, in: folder.isEmpty ? "." : folder, maxBytes: maxBytes)
    }

    /// Checks that `path` is a regular file under `roots` of at most `maxBytes`, without reading it.
    public static func check(_ path: String, roots: [String], maxBytes: Int) throws {
        let (fd, _) = try open(path, roots: roots, maxBytes: maxBytes)
        close(fd)
    }

    /// The bytes of the regular file `path` under `roots` (real paths already), at most `maxBytes`.
    public static func read(_ path: String, roots: [String], maxBytes: Int) throws -> Data {
        let (fd, size) = try open(path, roots: roots, maxBytes: maxBytes)
        defer { close(fd) }
        var data = Data(count: size)
        var filled = 0
        while filled < data.count {
            let n = data.withUnsafeMutableBytes { Glibc.read(fd, $0.baseAddress! + filled, $0.count - filled) }
            if n < 0 && errno == EINTR { continue }
            guard n > 0 else { throw Refusal(description: n == 0 ? "the file shrank while it was read" : "read error (\(String(cString: strerror(errno))))") }
            filled += n
        }
        return data
    }

    /// An open descriptor of the regular file at `path` (under `roots`, at most `maxBytes`) and its size.
    private static func open(_ path: String, roots: [String], maxBytes: Int) throws -> (Int32, Int) {
        guard let real = realPath(path) else { throw Refusal(description: "missing, or a broken link") }
        guard isInside(real, roots: roots) else { throw Refusal(description: "it leads outside the folder it must be in (through a link or '..')") }
        // O_NONBLOCK: opening a FIFO must not wait for a writer; O_NOFOLLOW: the real path
        // must not have become a link since it was resolved.
        let fd = Glibc.open(real, O_RDONLY | O_NONBLOCK | O_NOFOLLOW | O_CLOEXEC)
        guard fd >= 0 else { throw Refusal(description: "cannot open (\(String(cString: strerror(errno))))") }
        // A folder on the way may have become a link since: ask the kernel what was opened.
        guard let opened = realPath("/proc/self/fd/\(fd)"), isInside(opened, roots: roots) else {
            close(fd)
            throw Refusal(description: "it moved outside the folder it must be in while being opened")
        }
        var info = stat()
        guard fstat(fd, &info) == 0 else {
            close(fd)
            throw Refusal(description: "cannot stat (\(String(cString: strerror(errno))))")
        }
        guard (info.st_mode & S_IFMT) == S_IFREG else {
            close(fd)
            let kind: String
            switch info.st_mode & S_IFMT {
            case S_IFIFO: kind = "a FIFO"
            case S_IFCHR, S_IFBLK: kind = "a device"
            case S_IFDIR: kind = "a directory"
            case S_IFSOCK: kind = "a socket"
            default: kind = "not a regular file"
            }
            throw Refusal(description: "\(kind), not a regular file")
        }
        guard Int(info.st_size) <= maxBytes else {
            close(fd)
            throw Refusal(description: "larger than the limit of \(maxBytes >> 20) MiB")
        }
        return (fd, Int(info.st_size))
    }

    /// `path` with every link resolved; nil when it does not exist.
    public static func realPath(_ path: String) -> String? {
        guard let resolved = realpath(path, nil) else { return nil }
        defer { free(resolved) }
        return String(cString: resolved)
    }

    public static func isInside(_ path: String, roots: [String]) -> Bool {
        roots.contains { root in path == root || path.hasPrefix(root.hasSuffix("/") ? root : root + "/") }
    }
}
