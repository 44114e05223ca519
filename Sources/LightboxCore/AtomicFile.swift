import Foundation

/// Writes files so that readers see either the old file or the complete new one:
/// the data goes to a temporary name in the same directory, is flushed, then renamed.
public enum AtomicFile {
    /// - Parameter durable: flush to the disk before the rename (fsync). Caches whose entries
    ///   carry their own checksum skip it: a lost entry is recomputed, and hundreds of fsyncs
    ///   cost more than the work they protect.
    /// - Parameter permissions: the file's mode (e.g. 0o600 for a secret), set while it is still
    ///   empty; nil: the process's default.
    public static func write(_ data: Data, to path: String, durable: Bool = true, permissions: Int? = nil) throws {
        let url = URL(fileURLWithPath: path)
        try OutputPath.checkExisting(path, as: .file)
        let directory = url.deletingLastPathComponent()
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        StaleTemporaries.remove(for: url.lastPathComponent, in: directory)
        let temporary = directory.appendingPathComponent(StaleTemporaries.temporaryName(for: url.lastPathComponent))
        do {
            let attributes: [FileAttributeKey: Any]? = permissions.map { [.posixPermissions: $0] }
            guard FileManager.default.createFile(atPath: temporary.path, contents: nil, attributes: attributes) else {
                throw CocoaError(.fileWriteNoPermission, userInfo: [NSFilePathErrorKey: temporary.path])
            }
            let handle = try FileHandle(forWritingTo: temporary)
            try handle.write(contentsOf: data)
            if durable { try handle.synchronize() }
            try handle.close()
            // Once more just before the rename: it would replace a FIFO or a device as readily.
            try OutputPath.checkExisting(path, as: .file)
            guard rename(temporary.path, url.path) == 0 else {
                throw CocoaError(.fileWriteUnknown, userInfo: [NSFilePathErrorKey: path])
            }
        } catch {
            try? FileManager.default.removeItem(at: temporary)
            throw error
        }
    }
}

/// Temporaries that a killed writer left beside its target (`.NAME.tmp-PID-RANDOM@HOST`):
/// removed by the next writer of the same name on the same host once their process is gone.
/// The host matters on a shared file system (the embedding cache of a Slurm job): another
/// machine's writer is alive whatever its pid means here, so its temporaries are left alone.
public enum StaleTemporaries {
    /// This machine's name as temporaries carry it.
    public static let host: String = {
        var buffer = [CChar](repeating: 0, count: 256)
        guard gethostname(&buffer, buffer.count - 1) == 0 else { return "unknown" }
        let name = String(cString: buffer).filter { $0 != "/" && $0 != "@" }
        return name.isEmpty ? "unknown" : name
    }()

    /// A fresh temporary name for a writer of `name` in this process.
    public static func temporaryName(for name: String) -> String {
        ".\(name).tmp-\(getpid())-\(UInt32.random(in: 0...UInt32.max))@\(host)"
    }

    public static func remove(for name: String, in directory: URL) {
        let prefix = ".\(name).tmp-"
        guard let entries = try? FileManager.default.contentsOfDirectory(atPath: directory.path) else { return }
        for entry in entries where entry.hasPrefix(prefix) {
            let rest = entry.dropFirst(prefix.count)
            guard let pid = Int32(rest.prefix { $0 != "-" }) else { continue }
            // Names without a host come from writers before hosts were recorded: treated as local.
            if let at = rest.lastIndex(of: "@"), rest[rest.index(after: at)...] != host { continue }
            if pid != getpid() && kill(pid, 0) != 0 && errno == ESRCH {
                try? FileManager.default.removeItem(at: directory.appendingPathComponent(entry))
            }
        }
    }
}
