import Foundation
import LightboxData
import GRDB
import LightboxCore
import LightboxImaging
import LightboxModels

/// Why a Studio request cannot be done; the API turns it into a JSON error with a status.
public struct StudioError: Error, CustomStringConvertible, Sendable {
    public enum Kind: Sendable { case badRequest, unauthorized, notFound, conflict, tooLarge, unsupportedMediaType, forbidden, unavailable }
    public let kind: Kind
    public let description: String
    public init(_ kind: Kind, _ description: String) {
        self.kind = kind
        self.description = description
    }
}

/// Projects, classes, images and runs in SQLite (GRDB); image files stored by content hash.
/// Every write is a transaction; image files are written atomically before their row. The data
/// directory is its owner's alone (`OwnerOnly`); DICOM files are stored de-identified.
public final class StudioStore: @unchecked Sendable {
    public let directory: URL
    let db: DatabaseQueue
    /// What opening the directory repaired (permissions, leftovers of a killed server), one
    /// line each, for the operator.
    public private(set) var startupNotices: [String] = []

    public init(directory: URL) throws {
        self.directory = directory
        var tightened: [String] = []
        do {
            try OwnerOnly.createFolder(directory)
            tightened = OwnerOnly.tighten(directory)
            try OwnerOnly.createFolder(directory.appendingPathComponent("images"))
            try OwnerOnly.createFolder(directory.appendingPathComponent("runs"))
        } catch {
            throw StudioError(.unavailable, "\(directory.path): cannot create the data directory (\(error.localizedDescription))")
        }
        let database = directory.appendingPathComponent("studio.sqlite").path
        // SQLite creates its file (and gives its journals the file's mode) world-readable by default.
        let fd = open(database, O_WRONLY | O_CREAT | O_CLOEXEC, OwnerOnly.fileMode)
        if fd >= 0 { close(fd) }
        var config = Configuration()
        config.foreignKeysEnabled = true
        do {
            db = try DatabaseQueue(path: database, configuration: config)
        } catch {
            throw StudioError(.unavailable, "\(directory.path): cannot open studio.sqlite (\(error))")
        }
        try migrator.migrate(db)
        if !tightened.isEmpty {
            startupNotices.append("\(directory.path): \(tightened.count) files and folders could be read by other users; now only their owner can (e.g. \(tightened.prefix(3).joined(separator: ", ")))")
        }
        startupNotices += try removeLeftovers()
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
        let name = try Names.normalized(name, what: "a project")
        return try db.write { db in
            if try Project.fetchAll(db).contains(where: { $0.name.precomposedStringWithCanonicalMapping == name }) {
                throw StudioError(.conflict, "a project named '\(name)' already exists")
            }
            var p = Project(id: nil, name: name, created: Date())
            try p.insert(db)
            return p
        }
    }

    public func projects() throws -> [Project] { try db.read { try Project.order(Column("id")).fetchAll($0) } }

    public func project(_ id: Int64) throws -> Project {
        guard let p = try db.read({ try Project.fetchOne($0, key: id) }) else { throw StudioError(.notFound, "no project \(id)") }
        return p
    }

    /// Deletes a project with its classes, images and runs, and every file only they used:
    /// image files no other project references, and the run folders.
    public func deleteProject(_ id: Int64) throws {
        let runIds: [Int64] = try db.write { db in
            guard try Project.fetchOne(db, key: id) != nil else { throw StudioError(.notFound, "no project \(id)") }
            try Self.refuseIfActive(db, projectId: id, doing: "delete it")
            let shas = try String.fetchAll(db, ImageRecord.filter(Column("projectId") == id).select(Column("sha256")))
            let runs = try Int64.fetchAll(db, RunRecord.filter(Column("projectId") == id).select(Column("id")))
            _ = try Project.deleteOne(db, key: id)
            try removeUnreferencedFiles(db, shas: Set(shas))
            return runs
        }
        for run in runIds { removeRunFiles(run) }
    }

    public func addClass(projectId: Int64, name: String) throws -> ClassRecord {
        _ = try project(projectId)
        let name = try Names.normalized(name, what: "a class")
        return try db.write { db in
            try Self.refuseTakenClassName(db, name, projectId: projectId)
            var c = ClassRecord(id: nil, projectId: projectId, name: name)
            try c.insert(db)
            return c
        }
    }

    /// Renames a class (the same rules and uniqueness as `addClass`). Refused while its project
    /// trains: the run's labels are the class names.
    public func renameClass(_ id: Int64, in projectId: Int64, to newName: String) throws -> ClassRecord {
        let name = try Names.normalized(newName, what: "a class")
        return try db.write { db in
            guard var c = try ClassRecord.fetchOne(db, key: id), c.projectId == projectId else {
                throw StudioError(.notFound, "no class \(id) in project \(projectId)")
            }
            try Self.refuseIfActive(db, projectId: projectId, doing: "rename its classes")
            try Self.refuseTakenClassName(db, name, projectId: projectId, besides: id)
            c.name = name
            try c.update(db)
            return c
        }
    }

    /// Deletes a class with its images, and the files no other row uses. Refused while its
    /// project trains (the run reads them).
    public func deleteClass(_ id: Int64, in projectId: Int64) throws {
        try db.write { db in
            guard let c = try ClassRecord.fetchOne(db, key: id), c.projectId == projectId else {
                throw StudioError(.notFound, "no class \(id) in project \(projectId)")
            }
            try Self.refuseIfActive(db, projectId: projectId, doing: "delete its classes")
            let shas = try String.fetchAll(db, ImageRecord.filter(Column("classId") == id).select(Column("sha256")))
            _ = try ClassRecord.deleteOne(db, key: id)  // its images go with it (ON DELETE CASCADE)
            try removeUnreferencedFiles(db, shas: Set(shas))
        }
    }

    /// Inside a transaction: a conflict when another class of the project (not `besides`) has
    /// `name` as `ClassNames` compares them (Unicode form and letter case aside: "Sick" is "sick").
    private static func refuseTakenClassName(_ db: Database, _ name: String, projectId: Int64, besides id: Int64? = nil) throws {
        let others = try ClassRecord.filter(Column("projectId") == projectId).fetchAll(db).filter { $0.id != id }
        if let taken = others.first(where: { ClassNames.key($0.name) == ClassNames.key(name) }) {
            throw StudioError(.conflict, taken.name == name ? "class '\(name)' already exists"
                              : "class '\(name)' is the class '\(taken.name)' already in this project (class names are compared without regard to letter case)")
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
    public func imagePath(_ image: ImageRecord) -> URL { imagePath(sha256: image.sha256) }

    func imagePath(sha256: String) -> URL {
        directory.appendingPathComponent("images/\(sha256.prefix(2))/\(sha256)")
    }

    /// The group of an uploaded picture: for DICOM, its patient's pseudonym (the salt is the
    /// data directory's `patient-id-salt`); nil for other pictures and DICOM without a PatientID.
    public func patientGroup(of bytes: [UInt8], name: String) throws -> String? {
        guard ImageFormat(sniffing: bytes) == .dicom,
              let id = try DICOMIdentifiers.identifiers(bytes, path: name).patientID else { return nil }
        return try PatientPseudonyms.stored(in: directory.path).pseudonym(for: id)
    }

    /// The bytes a picture is stored as: a DICOM file without what identifies its patient
    /// (`DICOMDeidentification`: PatientID its pseudonym, UIDs keyed with the same salt); any
    /// other picture as it came. A DICOM file that cannot be rewritten is refused, never kept
    /// as it was.
    func storedBytes(of data: Data, name: String) throws -> Data {
        let bytes = [UInt8](data)
        guard ImageFormat(sniffing: bytes) == .dicom else { return data }
        do {
            let salt = try PatientPseudonyms.stored(in: directory.path)
            let pseudonym = try DICOMIdentifiers.identifiers(bytes, path: name).patientID.map(salt.pseudonym(for:))
            return Data(try DICOMDeidentification.deidentified(bytes, pseudonym: pseudonym, uidKey: salt.salt, path: name))
        } catch let e as ImageDecodingError {
            throw StudioError(.badRequest, "\(name): cannot remove the patient's identity from this DICOM file, so it is not stored (\(e.problem))")
        }
    }

    /// Stores an image that has already been decoded (so only real images are kept), DICOM
    /// de-identified (`storedBytes`), owner-only. The file is written inside the same
    /// transaction as its row, so a concurrent deletion of the same picture elsewhere can
    /// never remove a file a new row needs.
    public func addImage(projectId: Int64, classId: Int64, data: Data, filename: String, width: Int, height: Int,
                         group: String? = nil) throws -> ImageRecord {
        _ = try classRecord(classId, in: projectId)
        let data = try storedBytes(of: data, name: Self.displayName(filename))
        let digest = SHA256.hex(data)
        var record = ImageRecord(id: nil, projectId: projectId, classId: classId, sha256: digest, filename: Self.displayName(filename),
                                 width: width, height: height, groupName: group, created: Date())
        let path = imagePath(record)
        return try db.write { db in
            if let existing = try ImageRecord.filter(Column("classId") == classId && Column("sha256") == digest).fetchOne(db) {
                return existing  // the same picture twice in one class is kept once
            }
            if !FileManager.default.fileExists(atPath: path.path) {
                do {
                    try OwnerOnly.createFolder(path.deletingLastPathComponent())
                    try AtomicFile.write(data, to: path.path, permissions: Int(OwnerOnly.fileMode))
                } catch {
                    throw StudioError(.unavailable, "cannot store the image (\(error.localizedDescription)): is the disk full or read-only?")
                }
            }
            try record.insert(db)
            return record
        }
    }

    /// The name an image is shown under: its last path component, without control characters.
    static func displayName(_ filename: String) -> String {
        let last = (filename as NSString).lastPathComponent
        let clean = String(String.UnicodeScalarView(last.unicodeScalars.filter { !Names.isForbidden($0) }).prefix(200))
        return clean.isEmpty ? "upload" : clean
    }

    public func images(projectId: Int64, classId: Int64? = nil) throws -> [ImageRecord] {
        try db.read { db in
            var q = ImageRecord.filter(Column("projectId") == projectId)
            if let classId { q = q.filter(Column("classId") == classId) }
            return try q.order(Column("id")).fetchAll(db)
        }
    }

    /// For each picture (by content hash) of a project held by more than one class, those
    /// classes' names: training drops every copy of a picture whose labels disagree.
    public func classesSharingPictures(projectId: Int64) throws -> [String: [Int64: String]] {
        try db.read { db in
            let names = Dictionary(uniqueKeysWithValues: try ClassRecord.filter(Column("projectId") == projectId).fetchAll(db).map { ($0.id!, $0.name) })
            var byPicture: [String: [Int64: String]] = [:]
            for image in try ImageRecord.filter(Column("projectId") == projectId).fetchAll(db) {
                byPicture[image.sha256, default: [:]][image.classId] = names[image.classId]
            }
            return byPicture.filter { $0.value.count > 1 }
        }
    }

    /// The names of the project's classes other than `classId` that hold the picture `sha256`
    /// (by class id): what an upload's answer warns of, without reading the whole project.
    public func otherClassesHolding(_ sha256: String, projectId: Int64, besides classId: Int64) throws -> [String] {
        try db.read { db in
            let ids = Set(try Int64.fetchAll(db, ImageRecord.filter(Column("projectId") == projectId && Column("sha256") == sha256
                                                                    && Column("classId") != classId).select(Column("classId"))))
            return try ClassRecord.filter(ids.sorted().contains(Column("id"))).order(Column("id")).fetchAll(db).map(\.name)
        }
    }

    public func image(_ id: Int64) throws -> ImageRecord {
        guard let i = try db.read({ try ImageRecord.fetchOne($0, key: id) }) else { throw StudioError(.notFound, "no image \(id)") }
        return i
    }

    /// Removes an image, and its file when no other row uses the same picture. Refused while
    /// its project trains (the run reads the file).
    public func deleteImage(_ id: Int64) throws {
        try db.write { db in
            guard let image = try ImageRecord.fetchOne(db, key: id) else { throw StudioError(.notFound, "no image \(id)") }
            try Self.refuseIfActive(db, projectId: image.projectId, doing: "delete its images")
            _ = try ImageRecord.deleteOne(db, key: id)
            try removeUnreferencedFiles(db, shas: [image.sha256])
        }
    }

    /// Inside a write transaction: the files of these pictures that no row references any more.
    private func removeUnreferencedFiles(_ db: Database, shas: Set<String>) throws {
        for sha in shas where try ImageRecord.filter(Column("sha256") == sha).fetchCount(db) == 0 {
            let file = imagePath(sha256: sha)
            try? FileManager.default.removeItem(at: file)
            // The two-letter fan-out folder goes too once it is empty.
            let folder = file.deletingLastPathComponent()
            if (try? FileManager.default.contentsOfDirectory(atPath: folder.path))?.isEmpty == true {
                try? FileManager.default.removeItem(at: folder)
            }
        }
    }

    private static func refuseIfActive(_ db: Database, projectId: Int64, doing: String) throws {
        if try RunRecord.filter(Column("projectId") == projectId && RunRecord.active.contains(Column("status"))).fetchCount(db) > 0 {
            throw StudioError(.conflict, "project \(projectId) has a run in progress: cancel it or wait for it to end to \(doing)")
        }
    }

    // MARK: runs

    /// Creates a run unless the project already has one in progress.
    public func createRun(projectId: Int64, options: String) throws -> RunRecord {
        _ = try project(projectId)
        return try db.write { db in
            if try RunRecord.filter(Column("projectId") == projectId && RunRecord.active.contains(Column("status"))).fetchCount(db) > 0 {
                throw StudioError(.conflict, "project \(projectId) already has a run in progress")
            }
            var r = RunRecord(id: nil, projectId: projectId, status: .queued, options: options, progress: nil, metrics: nil,
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
                r.status = .interrupted
                r.error = "the server stopped while this run was in progress"
                r.finished = Date()
                try r.update(db)
                try? FileManager.default.removeItem(at: runDatasetList(r.id!))
            }
            return stale.count
        }
    }

    /// Deletes a run that is not in progress, with its folder.
    public func deleteRun(_ id: Int64) throws {
        try db.write { db in
            guard let run = try RunRecord.fetchOne(db, key: id) else { throw StudioError(.notFound, "no run \(id)") }
            guard !run.status.isActive else {
                throw StudioError(.conflict, "run \(id) is \(run.status): cancel it first")
            }
            _ = try RunRecord.deleteOne(db, key: id)
        }
        removeRunFiles(id)
    }

    public func runDirectory(_ id: Int64) -> URL { directory.appendingPathComponent("runs/\(id)") }

    /// The data set list a run trains from (beside the image folder, so its paths stay inside).
    public func runDatasetList(_ id: Int64) -> URL { directory.appendingPathComponent("dataset-run-\(id).csv") }

    /// A run's folder and its data set list.
    func removeRunFiles(_ id: Int64) {
        try? FileManager.default.removeItem(at: runDirectory(id))
        try? FileManager.default.removeItem(at: runDatasetList(id))
    }
}
