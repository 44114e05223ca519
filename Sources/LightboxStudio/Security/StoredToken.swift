import Foundation
import LightboxCore

/// The access token `lightbox serve` keeps in its data directory when the operator gives none
/// (`--token`, `--token-file`, `$LIGHTBOX_TOKEN`): the same login URL at every start, so
/// bookmarks keep working. The file is its owner's alone (0600, written atomically); one that
/// others could read or change, or that does not hold a token, is refused, never used or
/// silently replaced: `--new-token` replaces it.
public enum StoredToken {
    /// The file's name in the data directory.
    public static let fileName = "studio-token"

    public static func file(in dataDirectory: URL) -> URL { dataDirectory.appendingPathComponent(fileName) }

    /// What the operator is told to do about a stored token that cannot be used.
    static let remedy = "start with --new-token to replace it (the login URL changes), or give a token with --token-file"

    /// The stored token, made first (32 random bytes as hex) when there is none or `renew`;
    /// `created` says whether it is new. Creates the data directory (owner-only) when missing.
    public static func load(in dataDirectory: URL, renew: Bool) throws -> (token: String, created: Bool) {
        let file = file(in: dataDirectory)
        if !renew, let token = try read(file) { return (token, false) }
        let token = StudioAccess.generateToken()
        do {
            // An existing data directory's permissions are the store's to check (and report).
            if !FileManager.default.fileExists(atPath: dataDirectory.path) { try OwnerOnly.createFolder(dataDirectory) }
            try AtomicFile.write(Data((token + "\n").utf8), to: file.path, permissions: Int(OwnerOnly.fileMode))
        } catch {
            throw StudioError(.unavailable, "\(file.path): cannot keep the access token there (\(error.localizedDescription))")
        }
        return (token, true)
    }

    /// The token in `file`; nil when there is no such file.
    static func read(_ file: URL) throws -> String? {
        var info = stat()
        guard lstat(file.path, &info) == 0 else {
            if errno == ENOENT { return nil }
            throw StudioError(.unavailable, "\(file.path): cannot read the stored access token (\(String(cString: strerror(errno)))); \(remedy)")
        }
        guard info.st_mode & S_IFMT == S_IFREG else {
            throw StudioError(.forbidden, "\(file.path): the stored access token is not a regular file (a link or a folder); \(remedy)")
        }
        guard info.st_uid == getuid() else {
            throw StudioError(.forbidden, "\(file.path): the stored access token belongs to another user; \(remedy)")
        }
        guard info.st_mode & 0o077 == 0 else {
            throw StudioError(.forbidden, "\(file.path): the stored access token could be read or changed by other users (mode \(String(info.st_mode & 0o777, radix: 8)), not 600), so they may know it; \(remedy)")
        }
        guard info.st_size <= 1024, let data = FileManager.default.contents(atPath: file.path),
              let text = String(data: data, encoding: .utf8) else {
            throw StudioError(.badRequest, "\(file.path): the stored access token is malformed (not a short UTF-8 text); \(remedy)")
        }
        do {
            return try StudioAccess.checked(text.trimmingCharacters(in: .whitespacesAndNewlines), from: file.path)
        } catch {
            throw StudioError(.badRequest, "\(file.path): the stored access token is malformed (a token is 8-512 printable ASCII characters without spaces or any of % & # ? ; , \" \\); \(remedy)")
        }
    }
}
