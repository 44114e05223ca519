import CGlibcExtras
import Foundation

/// Replaces a directory's contents in one step: `fill` writes a temporary sibling, which is
/// then exchanged with the target (renameat2 RENAME_EXCHANGE) or renamed onto it.
public enum AtomicDirectory {
    public static func write(to directory: String, _ fill: (String) throws -> Void) throws {
        let fm = FileManager.default
        let target = URL(fileURLWithPath: directory).standardizedFileURL
        try OutputPath.checkExisting(target.path, as: .folder)
        let parent = target.deletingLastPathComponent()
        try fm.createDirectory(at: parent, withIntermediateDirectories: true)
        StaleTemporaries.remove(for: target.lastPathComponent, in: parent)
        let temporary = parent.appendingPathComponent(StaleTemporaries.temporaryName(for: target.lastPathComponent))
        try fm.createDirectory(at: temporary, withIntermediateDirectories: false)
        do {
            try fill(temporary.path)
            // Flushed to the disk before the swap, as AtomicFile does: a crash after the rename
            // must not leave the new folder's files empty.
            try flush(temporary)
            // The exchange swaps in whatever is there: only a folder may be (checked again after the work).
            try OutputPath.checkExisting(target.path, as: .folder)
            if fm.fileExists(atPath: target.path) {
                guard renameat2(AT_FDCWD, temporary.path, AT_FDCWD, target.path, UInt32(LIGHTBOX_RENAME_EXCHANGE)) == 0 else {
                    throw CocoaError(.fileWriteUnknown, userInfo: [NSFilePathErrorKey: target.path])
                }
                try? fm.removeItem(at: temporary)  // now holds the previous contents
            } else {
                guard rename(temporary.path, target.path) == 0 else {
                    throw CocoaError(.fileWriteUnknown, userInfo: [NSFilePathErrorKey: target.path])
                }
            }
        } catch {
            try? fm.removeItem(at: temporary)
            throw error
        }
    }

    /// fsync of every file under `folder`, then of the folder itself.
    static func flush(_ folder: URL) throws {
        let files = (FileManager.default.enumerator(atPath: folder.path)?.allObjects as? [String] ?? []).map {
            folder.appendingPathComponent($0).path
        }
        for path in files + [folder.path] {
            let fd = open(path, O_RDONLY | O_CLOEXEC)
            guard fd >= 0 else { throw CocoaError(.fileWriteUnknown, userInfo: [NSFilePathErrorKey: path]) }
            defer { close(fd) }
            guard fsync(fd) == 0 else { throw CocoaError(.fileWriteUnknown, userInfo: [NSFilePathErrorKey: path]) }
        }
    }
}
