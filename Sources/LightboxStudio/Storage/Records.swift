import Foundation
import GRDB

/// A Studio project: classes of uploaded images and the training runs on them.
public struct Project: Codable, Sendable, FetchableRecord, MutablePersistableRecord {
    public var id: Int64?
    public var name: String
    public var created: Date

    public static let databaseTableName = "project"
    public mutating func didInsert(_ inserted: InsertionSuccess) { id = inserted.rowID }
}

public struct ClassRecord: Codable, Sendable, FetchableRecord, MutablePersistableRecord {
    public var id: Int64?
    public var projectId: Int64
    public var name: String

    public static let databaseTableName = "class"
    public mutating func didInsert(_ inserted: InsertionSuccess) { id = inserted.rowID }
}

/// An image stored by content hash under the data directory.
public struct ImageRecord: Codable, Sendable, FetchableRecord, MutablePersistableRecord {
    public var id: Int64?
    public var projectId: Int64
    public var classId: Int64
    public var sha256: String
    /// The name it was uploaded or imported under (shown, never used as a path).
    public var filename: String
    public var width: Int
    public var height: Int
    /// Patient or other group id, when an import had one.
    public var groupName: String?
    public var created: Date

    public static let databaseTableName = "image"
    public mutating func didInsert(_ inserted: InsertionSuccess) { id = inserted.rowID }
}

/// Where a run is: stored as its raw value (the column is text).
public enum RunStatus: String, Codable, Sendable, DatabaseValueConvertible {
    case queued, running, finished, failed, cancelled, interrupted

    /// Queued or running: the project is busy.
    public var isActive: Bool { self == .queued || self == .running }
}

/// A training run.
public struct RunRecord: Codable, Sendable, FetchableRecord, MutablePersistableRecord {
    public var id: Int64?
    public var projectId: Int64
    public var status: RunStatus
    public var options: String
    /// JSON: the stage and its progress, and every epoch so far.
    public var progress: String?
    /// JSON: metrics.json once finished.
    public var metrics: String?
    public var error: String?
    public var created: Date
    public var finished: Date?

    public static let databaseTableName = "run"
    public mutating func didInsert(_ inserted: InsertionSuccess) { id = inserted.rowID }

    /// The statuses of runs in progress, for queries.
    public static let active = [RunStatus.queued, .running].map(\.rawValue)
}
