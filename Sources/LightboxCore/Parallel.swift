import Foundation

/// Loops over indices on several threads, with results in index order.
public enum Parallel {
    /// `body(i)` for every `i` in `0..<count` on up to `threads` threads (the run's
    /// thread count, passed by the caller); the results in index order.
    public static func map<T>(_ count: Int, threads: Int, _ body: (Int) -> T) -> [T] {
        guard count > 0 else { return [] }
        var results = [T?](repeating: nil, count: count)
        results.withUnsafeMutableBufferPointer { slots in
            let base = slots.baseAddress!
            forEach(count, threads: threads) { base[$0] = body($0) }
        }
        return results.map { $0! }
    }

    /// `body(i)` for every `i` in `0..<count` on up to `threads` threads; each index runs once,
    /// workers take the next index as they finish (images differ in cost).
    public static func forEach(_ count: Int, threads: Int, _ body: (Int) -> Void) {
        guard count > 0 else { return }
        let workers = max(1, min(threads, count))
        if workers == 1 {
            for i in 0..<count { body(i) }
            return
        }
        let next = Counter()
        DispatchQueue.concurrentPerform(iterations: workers) { _ in
            while let i = next.take(below: count) { body(i) }
        }
    }

    private final class Counter: @unchecked Sendable {
        private let lock = NSLock()
        private var value = 0
        func take(below limit: Int) -> Int? {
            lock.lock()
            defer { lock.unlock() }
            guard value < limit else { return nil }
            value += 1
            return value - 1
        }
    }
}
