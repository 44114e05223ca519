import Foundation

/// One of `count` contiguous parts of an input list, numbered from 0: `"K/N"` is part K of N,
/// 0 ≤ K < N, so a Slurm array `--array=0-(N-1)` runs `--shard $SLURM_ARRAY_TASK_ID/N`.
/// The first `total % N` parts hold one item more than the others; together the parts cover
/// the list exactly once, in order.
public struct Shard: Hashable, Sendable, Codable, CustomStringConvertible {
    public let index: Int
    public let count: Int

    public init(index: Int, count: Int) throws {
        guard count >= 1 else { throw ShardingError.badShard("the number of shards must be at least 1 (got \(count))") }
        guard (0..<count).contains(index) else {
            throw ShardingError.badShard("shard \(index)/\(count): shards are numbered from 0 to \(count - 1)")
        }
        self.index = index
        self.count = count
    }

    /// Parses `"K/N"` (0-based K, as `SLURM_ARRAY_TASK_ID` counts).
    public init(parsing text: String) throws {
        let parts = text.split(separator: "/", omittingEmptySubsequences: false)
        guard parts.count == 2,
              let k = Int(parts[0].trimmingCharacters(in: .whitespaces)),
              let n = Int(parts[1].trimmingCharacters(in: .whitespaces))
        else { throw ShardingError.badShard("'\(text)' is not a shard: write K/N, K from 0 to N-1 (e.g. 0/4)") }
        try self.init(index: k, count: n)
    }

    /// The whole list as one shard.
    public static let whole = try! Shard(index: 0, count: 1)

    /// All `count` shards, in order.
    public static func all(_ count: Int) throws -> [Shard] {
        guard count >= 1 else { throw ShardingError.badShard("the number of shards must be at least 1 (got \(count))") }
        return try (0..<count).map { try Shard(index: $0, count: count) }
    }

    public var description: String { "\(index)/\(count)" }

    /// The positions of this shard's items in a list of `total` items.
    public func range(in total: Int) -> Range<Int> {
        precondition(total >= 0)
        let base = total / count, extra = total % count
        let start = index * base + min(index, extra)
        return start..<(start + base + (index < extra ? 1 : 0))
    }

    /// This shard's items of `items`.
    public func slice<T>(_ items: [T]) -> ArraySlice<T> { items[range(in: items.count)] }
}

public enum ShardingError: Error, CustomStringConvertible, Equatable {
    case badShard(String)
    /// Shards whose results are missing or do not match the inputs: run them (again).
    case incomplete(shards: [Int], of: Int, reason: String)
    case badManifest(path: String, reason: String)

    public var description: String {
        switch self {
        case .badShard(let message): return message
        case .incomplete(let shards, let count, let reason):
            let list = shards.count > 8 ? shards.prefix(8).map(String.init).joined(separator: ", ") + ", ..."
                                        : shards.map(String.init).joined(separator: ", ")
            return "\(shards.count) of \(count) shards not done (\(list)): \(reason)"
        case .badManifest(let path, let reason): return "\(path): \(reason)"
        }
    }
}
