import Foundation

/// Reads a file for import only if it is what it claims: a regular file whose real path
/// (every symlink resolved) lies under one of the allowed roots. FIFOs, devices and
/// directories are refused without opening them in a way that could block.
enum RegularFile {
    struct Refusal: Error, CustomStringConvertible { let description: String }

    /// Checks that `path` is a regular file under `roots` of at most `maxBytes`, without reading
    /// it (for the table a data set is described by, which the data set reader then reads).
    static func check(_ path: String, roots: [String], maxBytes: Int) throws {
        let (fd, _) = try open(path, roots: roots, maxBytes: maxBytes)
        close(fd)
    }

    /// `roots` are real paths already. Returns the bytes, or throws a reason for the skip list.
    static func read(_ path: String, roots: [String], maxBytes: Int) throws -> Data {
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
        guard let real = realPath(path) else { throw Refusal(description: "cannot resolve the path (missing or a broken link)") }
        guard isInside(real, roots: roots) else { throw Refusal(description: "its real path \(real) is outside the allowed import folders") }
        // O_NONBLOCK: opening a FIFO must not wait for a writer; O_NOFOLLOW: the real path
        // must not have become a link since it was resolved.
        let fd = Glibc.open(real, O_RDONLY | O_NONBLOCK | O_NOFOLLOW | O_CLOEXEC)
        guard fd >= 0 else { throw Refusal(description: "cannot open (\(String(cString: strerror(errno))))") }
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
            throw Refusal(description: "larger than the server's upload limit (\(maxBytes >> 20) MiB)")
        }
        return (fd, Int(info.st_size))
    }

    static func realPath(_ path: String) -> String? {
        guard let resolved = realpath(path, nil) else { return nil }
        defer { free(resolved) }
        return String(cString: resolved)
    }

    static func isInside(_ path: String, roots: [String]) -> Bool {
        roots.contains { root in path == root || path.hasPrefix(root.hasSuffix("/") ? root : root + "/") }
    }
}
