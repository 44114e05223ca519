import Foundation
import GRDB
import LightboxImaging
import LightboxModels

/// Why a Studio request cannot be done; the API turns it into a JSON error with a status.
public struct StudioError: Error, CustomStringConvertible, Sendable {
    public enum Kind: Sendable { case badRequest, notFound, conflict, tooLarge, forbidden, unavailable }
    public let kind: Kind
    public let description: String
    public init(_ kind: Kind, _ description: String) {
        self.kind = kind
        self.description = description
    }
}

/// Projects, classes, images and runs in SQLite (GRDB); image files stored by content hash.
/// Every write is a transaction; image files are written atomically before their row.
public final class StudioStore: @unchecked Sendable {
    public let directory: URL
    let db: DatabaseQueue
    let decoder = ImageDecoder(maxPixels: 50_000_000)

    public init(directory: URL) throws {
        self.directory = directory
        do {
            try FileManager.default.createDirectory(at: directory.appendingPathComponent("images"), withIntermediateDirectories: true)
            try FileManager.default.createDirectory(at: directory.appendingPathComponent("runs"), withIntermediateDirectories: true)
        } catch {
            throw StudioError(.unavailable, "\(directory.path): cannot create the data directory (\(error.localizedDescription))")
        }
        var config = Configuration()
        config.foreignKeysEnabled = true
        do {
            db = try DatabaseQueue(path: directory.appendingPathComponent("studio.sqlite").path, configuration: config)
        } catch {
            throw StudioError(.unavailable, "\(directory.path): cannot open studio.sqlite (\(error))")
        }
        try migrator.migrate(db)
    }

    var migrator: DatabaseMigrator {
        var m = DatabaseMigrator()
        m.registerMigration("v1") { db in
            try db.create(table: "project") { t in
                t.autoIncrementedPrimaryKey("id")
                t.column("name", .text).notNull()
                t.column("created", .datetime).notNull()
            }
            try db.create(table: "class") { t in
                t.autoIncrementedPrimaryKey("id")
                t.column("projectId", .integer).notNull().references("project", onDelete: .cascade)
                t.column("name", .text).notNull()
                t.uniqueKey(["projectId", "name"])
            }
            try db.create(table: "image") { t in
                t.autoIncrementedPrimaryKey("id")
                t.column("projectId", .integer).notNull().references("project", onDelete: .cascade)
                t.column("classId", .integer).notNull().references("class", onDelete: .cascade)
                t.column("sha256", .text).notNull()
                t.column("filename", .text).notNull()
                t.column("width", .integer).notNull()
                t.column("height", .integer).notNull()
                t.column("groupName", .text)
                t.column("created", .datetime).notNull()
                t.uniqueKey(["classId", "sha256"])
            }
            try db.create(table: "run") { t in
                t.autoIncrementedPrimaryKey("id")
                t.column("projectId", .integer).notNull().references("project", onDelete: .cascade)
                t.column("status", .text).notNull()
                t.column("options", .text).notNull()
                t.column("progress", .text)
                t.column("metrics", .text)
                t.column("error", .text)
                t.column("created", .datetime).notNull()
                t.column("finished", .datetime)
            }
        }
        return m
    }

    // MARK: projects and classes

    public func createProject(name: String) throws -> Project {
        let trimmed = name.trimmingCharacters(in: .whitespacesAndNewlines)
        guard !trimmed.isEmpty, trimmed.count <= 200 else { throw StudioError(.badRequest, "a project needs a name (1-200 characters)") }
        return try db.write { db in
            var p = Project(id: nil, name: trimmed, created: Date())
            try p.insert(db)
            return p
        }
    }

    public func projects() throws -> [Project] { try db.read { try Project.order(Column("id")).fetchAll($0) } }

    public func project(_ id: Int64) throws -> Project {
        guard let p = try db.read({ try Project.fetchOne($0, key: id) }) else { throw StudioError(.notFound, "no project \(id)") }
        return p
    }

    public func deleteProject(_ id: Int64) throws {
        _ = try project(id)
        if try db.read({ try RunRecord.filter(Column("projectId") == id && RunRecord.active.contains(Column("status"))).fetchCount($0) }) > 0 {
            throw StudioError(.conflict, "project \(id) has a run in progress")
        }
        _ = try db.write { try Project.deleteOne($0, key: id) }
    }

    public func addClass(projectId: Int64, name: String) throws -> ClassRecord {
        _ = try project(projectId)
        let trimmed = name.trimmingCharacters(in: .whitespacesAndNewlines)
        guard !trimmed.isEmpty, trimmed.count <= 100, !trimmed.contains("/") else {
            throw StudioError(.badRequest, "a class needs a name (1-100 characters, no '/')")
        }
        return try db.write { db in
            if try ClassRecord.filter(Column("projectId") == projectId && Column("name") == trimmed).fetchCount(db) > 0 {
                throw StudioError(.conflict, "class '\(trimmed)' already exists")
            }
            var c = ClassRecord(id: nil, projectId: projectId, name: trimmed)
            try c.insert(db)
            return c
        }
    }

    public func classRecord(_ id: Int64, in projectId: Int64) throws -> ClassRecord {
        guard let c = try db.read({ try ClassRecord.fetchOne($0, key: id) }), c.projectId == projectId else {
            throw StudioError(.notFound, "no class \(id) in project \(projectId)")
        }
        return c
    }

    public func classes(projectId: Int64) throws -> [(ClassRecord, Int)] {
        _ = try project(projectId)
        return try db.read { db in
            try ClassRecord.filter(Column("projectId") == projectId).order(Column("id")).fetchAll(db).map { c in
                (c, try ImageRecord.filter(Column("classId") == c.id!).fetchCount(db))
            }
        }
    }

    // MARK: images

    /// Where an image's bytes live: never built from anything a request sent but the hash.
    public func imagePath(_ image: ImageRecord) -> URL {
        directory.appendingPathComponent("images/\(image.sha256.prefix(2))/\(image.sha256)")
    }

    /// Stores an uploaded image after decoding it (so only real images are kept).
    public func addImage(projectId: Int64, classId: Int64, data: Data, filename: String, group: String? = nil) throws -> ImageRecord {
        _ = try classRecord(classId, in: projectId)
        let name = String((filename as NSString).lastPathComponent.prefix(200))
        let image: RGBImage
        do {
            image = try decoder.decode(data: [UInt8](data), path: name.isEmpty ? "upload" : name)
        } catch {
            throw StudioError(.badRequest, "\(error)")
        }
        let digest = SHA256.hex(data)
        var record = ImageRecord(id: nil, projectId: projectId, classId: classId, sha256: digest, filename: name,
                                 width: image.width, height: image.height, groupName: group, created: Date())
        let path = imagePath(record)
        if !FileManager.default.fileExists(atPath: path.path) {
            do {
                try AtomicFile.write(data, to: path.path)
            } catch {
                throw StudioError(.unavailable, "cannot store the image (\(error.localizedDescription)): is the disk full or read-only?")
            }
        }
        return try db.write { db in
            if let existing = try ImageRecord.filter(Column("classId") == classId && Column("sha256") == digest).fetchOne(db) {
                return existing  // the same picture twice in one class is kept once
            }
            try record.insert(db)
            return record
        }
    }

    public func images(projectId: Int64, classId: Int64? = nil) throws -> [ImageRecord] {
        try db.read { db in
            var q = ImageRecord.filter(Column("projectId") == projectId)
            if let classId { q = q.filter(Column("classId") == classId) }
            return try q.order(Column("id")).fetchAll(db)
        }
    }

    public func image(_ id: Int64) throws -> ImageRecord {
        guard let i = try db.read({ try ImageRecord.fetchOne($0, key: id) }) else { throw StudioError(.notFound, "no image \(id)") }
        return i
    }

    public func deleteImage(_ id: Int64) throws {
        _ = try image(id)
        _ = try db.write { try ImageRecord.deleteOne($0, key: id) }
    }

    // MARK: runs

    /// Creates a run unless the project already has one in progress.
    public func createRun(projectId: Int64, options: String) throws -> RunRecord {
        _ = try project(projectId)
        return try db.write { db in
            if try RunRecord.filter(Column("projectId") == projectId && RunRecord.active.contains(Column("status"))).fetchCount(db) > 0 {
                throw StudioError(.conflict, "project \(projectId) already has a run in progress")
            }
            var r = RunRecord(id: nil, projectId: projectId, status: "queued", options: options, progress: nil, metrics: nil,
                              error: nil, created: Date(), finished: nil)
            try r.insert(db)
            return r
        }
    }

    public func run(_ id: Int64) throws -> RunRecord {
        guard let r = try db.read({ try RunRecord.fetchOne($0, key: id) }) else { throw StudioError(.notFound, "no run \(id)") }
        return r
    }

    public func runs(projectId: Int64) throws -> [RunRecord] {
        try db.read { try RunRecord.filter(Column("projectId") == projectId).order(Column("id").desc).fetchAll($0) }
    }

    public func updateRun(_ id: Int64, _ change: (inout RunRecord) -> Void) throws {
        try db.write { db in
            guard var r = try RunRecord.fetchOne(db, key: id) else { return }
            change(&r)
            try r.update(db)
        }
    }

    /// After a restart: runs that were in progress when the server stopped are marked interrupted.
    @discardableResult
    public func markInterruptedRuns() throws -> Int {
        try db.write { db in
            let stale = try RunRecord.filter(RunRecord.active.contains(Column("status"))).fetchAll(db)
            for var r in stale {
                r.status = "interrupted"
                r.error = "the server stopped while this run was in progress"
                r.finished = Date()
                try r.update(db)
            }
            return stale.count
        }
    }

    public func runDirectory(_ id: Int64) -> URL { directory.appendingPathComponent("runs/\(id)") }
}
