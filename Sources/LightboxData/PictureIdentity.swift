import Foundation
import LightboxCore
import LightboxImaging

/// How outputs and log lines name a picture (`--identify-by`). PACS exports often name folders
/// after patients ("HANSEN_ERIK - MRN100211/..."), so a path can name a person.
public enum PictureIdentity: String, CaseIterable, Sendable, Codable {
    /// The path as read: one's own PNG or JPEG folders.
    case path
    /// The DICOM SOPInstanceUID from the file's header; a picture without one (not DICOM, a
    /// header that does not read, a UID that is not digits and dots) is named by its digest.
    case uid
    /// `sha256-` and the first 16 hex digits of the SHA-256 of the file's bytes.
    case digest

    /// `uid` for a dicom-dir source, else `path`.
    public static func `default`(for kind: SourceKind?) -> PictureIdentity { kind == .dicomDir ? .uid : .path }
}

/// The names a data set's pictures go by in outputs and log lines, for one `PictureIdentity`:
/// what every writer asks (`name`, `item`, `group`, `describe`), so no path is written where the
/// operator asked for another identifier. `PictureNames.paths` is today's naming.
public struct PictureNames: Sendable {
    public let identity: PictureIdentity
    private let byPath: [String: String]

    /// Names every picture by its path.
    public static let paths = PictureNames(identity: .path, byPath: [:])

    /// Hex digits of the SHA-256 kept in a digest name: 64 bits, so two different pictures of a
    /// data set of a million share a name with a probability of about 3·10⁻⁸ (n²/2⁶⁵), while the
    /// name stays short enough to read, sort and use as a file name.
    public static let digestHexDigits = 16

    /// The names of `paths`, their digests taken from `digests` (computed by `ContentDigests`)
    /// where present; DICOM headers read on `threads` threads for `uid`.
    public init(_ identity: PictureIdentity, paths: [String], digests: [String: Result<String, ImageDecodingError>], threads: Int) {
        self.identity = identity
        guard identity != .path else { byPath = [:]; return }
        let unique = Array(Set(paths))
        let names = Parallel.map(unique.count, threads: threads) { i in
            Self.compute(identity, unique[i], digest: try? digests[unique[i]]?.get())
        }
        byPath = Dictionary(uniqueKeysWithValues: zip(unique, names))
    }

    private init(identity: PictureIdentity, byPath: [String: String]) {
        self.identity = identity
        self.byPath = byPath
    }

    /// The picture at `path` as outputs name it (a path not given at creation is read now).
    public func name(_ path: String) -> String {
        guard identity != .path else { return path }
        return byPath[path] ?? Self.compute(identity, path, digest: nil)
    }

    /// A skipped item (`SkippedItem.item`): a picture's path becomes its name, a table row
    /// (`labels.csv:17`, or `list.csv:17 RELATIVE/PATH`) keeps only its row reference, a folder
    /// (a class folder of the class-folders source) its last component.
    public func item(_ item: String) -> String {
        guard identity != .path else { return item }
        if let name = byPath[item] { return name }
        var isDirectory: ObjCBool = false
        if FileManager.default.fileExists(atPath: item, isDirectory: &isDirectory) {
            return isDirectory.boolValue ? (item as NSString).lastPathComponent : name(item)
        }
        if let reference = item.split(separator: " ", maxSplits: 1).first, reference.range(of: #"^[^/]+:[0-9]+$"#, options: .regularExpression) != nil {
            return String(reference)
        }
        return "(not named: --identify-by \(identity.rawValue))"
    }

    /// A picture's group as outputs show it: a source without patients makes the path the
    /// group, which is then named as the picture is.
    public func group(_ image: LabeledImage) -> String { image.group == image.path ? name(image.path) : image.group }

    /// A decoding error's line: the picture's name and the problem.
    public func describe(_ error: ImageDecodingError) -> String {
        identity == .path ? error.description : "\(name(error.path)): \(error.problem)"
    }

    /// A message that begins with a picture's path and ": " (a decoder's warning), with that
    /// path replaced by the picture's name; other messages as they are.
    public func renamingLeadingPath(_ message: String) -> String {
        guard identity != .path else { return message }
        var search = message.startIndex..<message.endIndex
        while let colon = message.range(of: ": ", range: search) {
            let path = String(message[..<colon.lowerBound])
            if byPath[path] != nil || ImageFiles.isRegularFile(path) { return name(path) + message[colon.lowerBound...] }
            search = colon.upperBound..<message.endIndex
        }
        return message
    }

    static func compute(_ identity: PictureIdentity, _ path: String, digest: String?) -> String {
        if identity == .uid, DICOMPatients.isDICOM(path), let uid = (try? DICOMIdentifiers.read(path: path))?.sopInstanceUID,
           isUID(uid) {
            return uid
        }
        if let digest = digest ?? FileManager.default.contents(atPath: path).map({ SHA256.hex($0) }) {
            return "sha256-" + digest.prefix(digestHexDigits)
        }
        // Nothing to read: a hash of the path names it without showing it.
        return "unreadable-" + SHA256.hex(Data(path.utf8)).prefix(digestHexDigits)
    }

    /// A DICOM UID: digits and dots, at most 64 characters (PS3.5 9.1). Anything else in the
    /// field (a header can hold any text there) is not written.
    static func isUID(_ s: String) -> Bool {
        !s.isEmpty && s.count <= 64 && s.unicodeScalars.allSatisfy { ("0"..."9" as ClosedRange<Unicode.Scalar>).contains($0) || $0 == "." }
    }
}

extension Dataset {
    /// The data set with its pictures named by `identity` (`names`), from the digests already
    /// computed (`ContentDigests`).
    public func identified(by identity: PictureIdentity, digests: [String: Result<String, ImageDecodingError>], threads: Int) -> Dataset {
        var copy = self
        copy.names = PictureNames(identity, paths: images.map(\.path), digests: digests, threads: threads)
        return copy
    }
}
