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
        let directory = url.deletingLastPathComponent()
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        StaleTemporaries.remove(for: url.lastPathComponent, in: directory)
        let temporary = directory.appendingPathComponent(".\(url.lastPathComponent).tmp-\(getpid())-\(UInt32.random(in: 0...UInt32.max))")
        do {
            let attributes: [FileAttributeKey: Any]? = permissions.map { [.posixPermissions: $0] }
            guard FileManager.default.createFile(atPath: temporary.path, contents: nil, attributes: attributes) else {
                throw CocoaError(.fileWriteNoPermission, userInfo: [NSFilePathErrorKey: temporary.path])
            }
            let handle = try FileHandle(forWritingTo: temporary)
            try handle.write(contentsOf: data)
            if durable { try handle.synchronize() }
            try handle.close()
            guard rename(temporary.path, url.path) == 0 else {
                throw CocoaError(.fileWriteUnknown, userInfo: [NSFilePathErrorKey: path])
            }
        } catch {
            try? FileManager.default.removeItem(at: temporary)
            throw error
        }
    }
}

/// Temporaries that a killed writer left beside its target (`.NAME.tmp-PID-RANDOM`): removed
/// by the next writer of the same name once their process is gone.
public enum StaleTemporaries {
    public static func remove(for name: String, in directory: URL) {
        let prefix = ".\(name).tmp-"
        guard let entries = try? FileManager.default.contentsOfDirectory(atPath: directory.path) else { return }
        for entry in entries where entry.hasPrefix(prefix) {
            guard let pid = Int32(entry.dropFirst(prefix.count).prefix { $0 != "-" }) else { continue }
            if pid != getpid() && kill(pid, 0) != 0 && errno == ESRCH {
                try? FileManager.default.removeItem(at: directory.appendingPathComponent(entry))
            }
        }
    }
}
