import Foundation
import LightboxData
import LightboxImaging

struct ImportBody: Decodable {
    /// Absolute, or relative to the import root numbered `root` (default the first).
    var path: String
    var source: String?
    var root: Int?
    /// Only say what would be imported: classes, counts and what the data set skips.
    var dryRun: Bool?
}

/// Imports a data set already on the server's disk (class folders, covid-chestxray, CSV) into a
/// project, only from folders the operator allowed with --import-root. Every file is checked
/// on its own (real path under a root, a regular file, a decodable picture within the decoding
/// budget, a valid class name); a bad one is skipped with its reason, never failing the import.
struct Importer {
    let store: StudioStore
    let roots: [String]
    let gate: DecodeGate
    let maxFileBytes: Int

    /// Imports run one at a time, off the request threads.
    static let queue = DispatchQueue(label: "lightbox.studio.import", qos: .utility)

    func run(projectId: Int64, body: ImportBody) throws -> ImportResponse {
        _ = try store.project(projectId)
        let allowed = roots.compactMap(RegularFile.realPath)
        guard !roots.isEmpty else { throw StudioError(.forbidden, "importing from the server's disk is off (start the server with --import-root DIR)") }
        let rootIndex = body.root ?? 0
        guard roots.indices.contains(rootIndex) else {
            throw StudioError(.badRequest, "root must be 0-\(roots.count - 1), one of the import folders \(roots.joined(separator: ", "))")
        }
        let requested = body.path.hasPrefix("/") ? body.path : (roots[rootIndex] as NSString).appendingPathComponent(body.path)
        guard let path = RegularFile.realPath(requested), RegularFile.isInside(path, roots: allowed) else {
            throw StudioError(.forbidden, "\(body.path) is not an existing folder or file under the allowed import folders (\(roots.joined(separator: ", ")))")
        }
        let kind = try body.source.map { s -> SourceKind in
            guard let k = SourceKind(rawValue: s) else { throw StudioError(.badRequest, "source must be folders, covid-chestxray or csv") }
            return k
        }
        try checkTable(of: path, roots: allowed)
        let dataset: Dataset
        do { dataset = try DatasetLoader.load(path, kind: kind, saltFolder: store.directory.path, groupDICOM: false) } catch {
            throw StudioError(.badRequest, "\(error)")
        }
        let skipped = dataset.skipped.map { ImportResponse.Skipped(item: $0.item, reason: $0.reason) }
        if body.dryRun == true { return preview(dataset, skipped: skipped) }
        let outcome = try importImages(dataset.images.map { (path: $0.path, label: $0.label, group: dataset.hasGroups ? $0.group as String? : nil) }, projectId: projectId)
        return ImportResponse(imported: outcome.imported, classes: outcome.classes, perClass: outcome.perClass,
                              skipped: skipped + outcome.skipped, dryRun: false)
    }

    /// What `importImages` did.
    struct Outcome {
        var imported = 0
        var classes = 0
        var perClass: [String: Int] = [:]
        var skipped: [ImportResponse.Skipped] = []
        var importedPaths = Set<String>()
    }

    /// Imports each file into its class (made when missing), with its patient group (nil: from
    /// the picture itself, a DICOM's PatientID), each through the checks every import makes.
    func importImages(_ items: [(path: String, label: String, group: String?)], projectId: Int64) throws -> Outcome {
        let allowed = roots.compactMap(RegularFile.realPath)
        // Keyed as class names are compared (ClassNames.key): a folder "Sick" fills the class "sick".
        var classIds: [String: Int64] = [:]
        for (c, _) in try store.classes(projectId: projectId) { classIds[ClassNames.key(c.name)] = c.id! }
        var outcome = Outcome()
        for image in items {
            do {
                let name = try Names.normalized(image.label, what: "a class")
                let data = try RegularFile.read(image.path, roots: allowed, maxBytes: maxFileBytes)
                let bytes = [UInt8](data)
                let decoded = try gate.admitWaiting(bytes, name: image.path) {
                    try DecodeGate.badRequest { try gate.decoder.decode(data: bytes, path: image.path) }
                }
                let classKey = ClassNames.key(name)
                if classIds[classKey] == nil { classIds[classKey] = try store.addClass(projectId: projectId, name: name).id! }
                _ = try store.addImage(projectId: projectId, classId: classIds[classKey]!, data: data,
                                       filename: (image.path as NSString).lastPathComponent,
                                       width: decoded.width, height: decoded.height,
                                       group: try image.group ?? store.patientGroup(of: bytes, name: image.path))
                outcome.imported += 1
                outcome.perClass[name, default: 0] += 1
                outcome.importedPaths.insert(image.path)
            } catch let e as RegularFile.Refusal {
                outcome.skipped.append(ImportResponse.Skipped(item: image.path, reason: e.description))
            } catch let e as StudioError where e.kind != .unavailable {
                outcome.skipped.append(ImportResponse.Skipped(item: image.path, reason: e.description))
            }
        }
        outcome.classes = classIds.count
        return outcome
    }

    /// What an import of `dataset` would offer, per class, before any picture is read: the
    /// classes and counts a user checks (a parent folder's extra class shows here) and the
    /// data set's own skips. Pictures that fail to decode are found only by the import itself.
    func preview(_ dataset: Dataset, skipped: [ImportResponse.Skipped]) -> ImportResponse {
        var skipped = skipped, perClass: [String: Int] = [:]
        for image in dataset.images {
            do { perClass[try Names.normalized(image.label, what: "a class"), default: 0] += 1 } catch {
                skipped.append(ImportResponse.Skipped(item: image.path, reason: "\(error)"))
            }
        }
        return ImportResponse(imported: perClass.values.reduce(0, +), classes: perClass.count, perClass: perClass, skipped: skipped, dryRun: true)
    }

    /// The table a data set is described by (a CSV list, or a folder's metadata.csv) is held to
    /// the rules its images are: a regular file, its real path under a root, of bounded size.
    /// A link to /dev/zero, a FIFO or a file outside the roots must never be read.
    func checkTable(of path: String, roots: [String]) throws {
        var info = stat()
        guard lstat(path, &info) == 0 else { return }
        let table = (info.st_mode & S_IFMT) == S_IFDIR ? (path as NSString).appendingPathComponent("metadata.csv") : path
        guard lstat(table, &info) == 0 else { return }  // a folder of class folders has no table
        do {
            try RegularFile.check(table, roots: roots, maxBytes: Self.maxTableBytes)
        } catch let e as RegularFile.Refusal {
            throw StudioError(.forbidden, "\((table as NSString).lastPathComponent): \(e.description)")
        }
    }

    /// The largest data set table read (covid-chestxray's metadata.csv is about 0.5 MB).
    static let maxTableBytes = 64 << 20
}
