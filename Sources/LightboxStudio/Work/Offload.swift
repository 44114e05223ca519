import Foundation

/// Runs blocking work (decoding, model passes, exports, imports) on threads of its own, never
/// on Swift's cooperative pool nor on Dispatch's global queues: on Linux both share one pool
/// with a thread per core, which also serves every other request, so a few heavy uploads
/// would otherwise stall `GET /`. Callers bound how much runs at once (DecodeGate, serial
/// queues for imports and exports).
enum Offload {
    /// On `queue` when given (a serial queue gets a thread of its own), else on a new thread.
    static func run<T: Sendable>(on queue: DispatchQueue? = nil, _ work: @escaping @Sendable () throws -> T) async throws -> T {
        try await withCheckedThrowingContinuation { continuation in
            let job = { continuation.resume(with: Result { try work() }) }
            if let queue {
                queue.async(execute: job)
            } else {
                let thread = Thread(block: job)
                thread.name = "lightbox-studio-work"
                thread.start()
            }
        }
    }
}
