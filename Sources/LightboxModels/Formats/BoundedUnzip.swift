import Foundation
import ZIPFoundation

/// Unpacks a zip someone else made without trusting it: every entry's path must stay inside
/// the destination (no absolute paths, no `..`, no symbolic links), the sizes its directory
/// declares must add up to at most `limit` bytes, and the bytes actually inflated are counted
/// as they are written, because declared sizes can lie: an entry that inflates past its
/// declared size, or a total past the limit, stops the extraction at once. Errors name the zip;
/// the caller removes the half-filled destination.
public enum BoundedUnzip {
    /// The paths of the zip's entries, from its central directory (nothing is unpacked).
    public static func entryPaths(_ zip: String) throws -> [String] {
        do {
            return try Archive(url: URL(fileURLWithPath: zip), accessMode: .read).map(\.path)
        } catch {
            throw WeightsError("\(zip): not a readable zip file (\(error))")
        }
    }

    public static func extract(_ zip: String, to destination: URL, limit: Int) throws {
        let archive: Archive
        do {
            archive = try Archive(url: URL(fileURLWithPath: zip), accessMode: .read)
        } catch {
            throw WeightsError("\(zip): not a readable zip file (\(error))")
        }
        let entries = Array(archive)
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
        for entry in entries {
            let target = destination.appendingPathComponent(entry.path).standardizedFileURL
            guard target.path.hasPrefix(root + "/") else {
                throw WeightsError("\(zip): entry '\(entry.path)' would leave the folder it is unpacked into")
            }
            if entry.type == .directory {
                try FileManager.default.createDirectory(at: target, withIntermediateDirectories: true)
                continue
            }
            try FileManager.default.createDirectory(at: target.deletingLastPathComponent(), withIntermediateDirectories: true)
            guard FileManager.default.createFile(atPath: target.path, contents: nil),
                  let file = FileHandle(forWritingAtPath: target.path) else {
                throw WeightsError("\(zip): cannot write \(target.path)")
            }
            defer { try? file.close() }
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
