import Foundation
import LightboxCore

/// The browser sessions of a running Studio. Logging in with the token opens one (a random id,
/// the cookie's value); logging out closes it at once, wherever copies of the cookie survive.
/// Kept in this process only: a restart (or a new token) logs every browser out. At most
/// `limit` are open: a new one closes the oldest.
final class StudioSessions: @unchecked Sendable {
    /// Browsers logged in at once (each login, each tab that logs in again, is one).
    static let limit = 64

    private let lock = NSLock()
    /// SHA-256 of each open session's id, oldest first: a lookup's timing tells nothing
    /// about the ids themselves.
    private var open: [String] = []

    /// A new session's id (32 random bytes as hex), now valid.
    func start() -> String {
        let id = StudioAccess.generateToken()
        lock.lock()
        defer { lock.unlock() }
        open.append(SHA256.hex(Data(id.utf8)))
        if open.count > Self.limit { open.removeFirst(open.count - Self.limit) }
        return id
    }

    func isOpen(_ id: String) -> Bool {
        let digest = SHA256.hex(Data(id.utf8))
        lock.lock()
        defer { lock.unlock() }
        return open.contains(digest)
    }

    /// Closes the session `id` (nothing when it is not open).
    func end(_ id: String) {
        let digest = SHA256.hex(Data(id.utf8))
        lock.lock()
        open.removeAll { $0 == digest }
        lock.unlock()
    }
}
