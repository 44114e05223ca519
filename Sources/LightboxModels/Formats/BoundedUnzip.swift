import Foundation
import LightboxCore
import ZIPFoundation

/// Unpacks a zip someone else made without trusting it: at most `maxEntries` entries (read
/// from its directory no further than one past the bound), every entry's path must stay inside
/// the destination (no absolute paths, no `..`, no symbolic links), the sizes its directory
/// declares must add up to at most `limit` bytes, and the bytes actually inflated are counted
/// as they are written, because declared sizes can lie: an entry that inflates past its
/// declared size, or a total past the limit, stops the extraction at once. Errors name the zip;
/// the caller removes the half-filled destination (`extractToTemporaryFolder` does).
public enum BoundedUnzip {
    /// The most entries a zip may hold. A model bundle is a handful of files (a fine-tuned
    /// ensemble of 64 members about 70, with a Teachable Machine backbone's a few more).
    public static let maxEntries = 256
    /// What the temporary folders of `extractToTemporaryFolder` are named after
    /// (`.lightbox-unzip.tmp-PID-RANDOM@HOST`, `StaleTemporaries`' names).
    static let temporaryFolderName = "lightbox-unzip"

    /// The paths of the zip's entries, from its central directory (nothing is unpacked).
    public static func entryPaths(_ zip: String) throws -> [String] {
        do {
            return try Archive(url: URL(fileURLWithPath: zip), accessMode: .read).map(\.path)
        } catch {
            throw WeightsError("\(zip): not a readable zip file (\(error))")
        }
    }

    /// Unpacks `zip` into a new owner-only folder in the system's temporary folder and returns
    /// it (the caller removes it); on failure nothing is left. First removes the folders of
    /// earlier unpacks on this host whose process is gone (killed mid-unpack): a folder whose
    /// process is alive, or that another host made, is never touched.
    public static func extractToTemporaryFolder(_ zip: String, limit: Int, maxEntries: Int = BoundedUnzip.maxEntries) throws -> URL {
        let temporary = FileManager.default.temporaryDirectory
        StaleTemporaries.remove(for: temporaryFolderName, in: temporary)
        let folder = temporary.appendingPathComponent(StaleTemporaries.temporaryName(for: temporaryFolderName))
        do {
            try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true, attributes: [.posixPermissions: 0o700])
            try extract(zip, to: folder, limit: limit, maxEntries: maxEntries)
            return folder
        } catch {
            try? FileManager.default.removeItem(at: folder)
            throw error
        }
    }

    /// What an unpack created: each entry's file once, each folder once (tests count them).
    public struct Created: Equatable, Sendable { public var files = 0, folders = 0 }

    /// Unpacks in one pass over the entries, with one file-system call to create each file
    /// (`open` with O_EXCL: a name met twice, or a link in the way, is refused) and each folder
    /// made once: the work grows with the entries, not with their square (creating each file
    /// as an atomic write, a temporary and a rename in an ever fuller folder, made 20,000
    /// entries take seconds and 60,000 minutes).
    @discardableResult
    public static func extract(_ zip: String, to destination: URL, limit: Int, maxEntries: Int = BoundedUnzip.maxEntries) throws -> Created {
        let archive: Archive
        do {
            archive = try Archive(url: URL(fileURLWithPath: zip), accessMode: .read)
        } catch {
            throw WeightsError("\(zip): not a readable zip file (\(error))")
        }
        var entries: [Entry] = []
        for entry in archive {
            guard entries.count < maxEntries else {
                throw WeightsError("\(zip): holds more than \(maxEntries) entries, more than a model has; refusing to unpack it")
            }
            entries.append(entry)
        }
        // Everything is checked before the first byte is written.
        var declared: UInt64 = 0
        for entry in entries {
            guard entry.type != .symlink else {
                throw WeightsError("\(zip): entry '\(entry.path)' is a symbolic link; refusing to unpack it")
            }
            guard isSafe(entry.path) else {
                throw WeightsError("\(zip): entry '\(entry.path)' has an unsafe path (absolute or with '..'); refusing to unpack it")
            }
            let (sum, overflow) = declared.addingReportingOverflow(entry.uncompressedSize)
            declared = overflow ? .max : sum
        }
        guard declared <= UInt64(limit) else {
            throw WeightsError("\(zip): its files would unpack to \(declared) bytes, over the limit of \(describe(limit)); refusing to unpack it")
        }

        let root = destination.standardizedFileURL.path
        var written = 0
        var created = Created()
        var folders: Set<String> = []
        func folder(_ path: String) throws {
            guard folders.insert(path).inserted else { return }
            try FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true)
            created.folders += 1
        }
        for entry in entries {
            let target = destination.appendingPathComponent(entry.path).standardizedFileURL
            guard target.path.hasPrefix(root + "/") else {
                throw WeightsError("\(zip): entry '\(entry.path)' would leave the folder it is unpacked into")
            }
            if entry.type == .directory {
                try folder(target.path)
                continue
            }
            try folder(target.deletingLastPathComponent().path)
            let fd = open(target.path, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0o600)
            guard fd >= 0 else {
                throw WeightsError("\(zip): entry '\(entry.path)' cannot be written (\(String(cString: strerror(errno))); a name given twice?)")
            }
            created.files += 1
            let file = FileHandle(fileDescriptor: fd, closeOnDealloc: false)
            defer { close(fd) }
            var entryBytes: UInt64 = 0
            let checksum: CRC32
            do {
                checksum = try archive.extract(entry, skipCRC32: false) { chunk in
                    entryBytes += UInt64(chunk.count)
                    written += chunk.count
                    guard entryBytes <= entry.uncompressedSize else {
                        throw WeightsError("\(zip): entry '\(entry.path)' inflates past the \(entry.uncompressedSize) bytes its header declares (a damaged or malicious zip); stopped unpacking it")
                    }
                    guard written <= limit else {
                        throw WeightsError("\(zip): unpacks to more than the limit of \(describe(limit)); stopped unpacking it")
                    }
                    try file.write(contentsOf: chunk)
                }
            } catch let error as WeightsError {
                throw error
            } catch {
                throw WeightsError("\(zip): entry '\(entry.path)' cannot be unpacked (\(error))")
            }
            guard entryBytes == entry.uncompressedSize, checksum == entry.checksum else {
                throw WeightsError("\(zip): entry '\(entry.path)' is corrupt (its size or checksum does not match its header)")
            }
        }
        return created
    }

    /// A relative path with no `..` component (either slash counts as a separator).
    static func isSafe(_ path: String) -> Bool {
        guard !path.isEmpty, !path.hasPrefix("/"), !path.hasPrefix("\\"), !path.contains("\0") else { return false }
        let components = path.split(whereSeparator: { $0 == "/" || $0 == "\\" })
        if let first = components.first, first.count == 2, first.last == ":" { return false }  // C:
        return !components.contains("..")
    }

    static func describe(_ bytes: Int) -> String {
        bytes % (1 << 20) == 0 ? "\(bytes >> 20) MiB" : "\(bytes) bytes"
    }
}
