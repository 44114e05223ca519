import CLightboxDICOM
import Foundation

/// Who and what a DICOM file is about, from its header alone (the pixels are not read): what
/// the data sources group patients and match labels by. `patientID` is the raw identifier:
/// callers turn it into a pseudonym (LightboxData's `PatientPseudonyms`) before anything is
/// written or shown.
public struct DICOMIdentifiers: Sendable, Equatable {
    public var patientID: String?
    public var sopInstanceUID: String?
    public var studyInstanceUID: String?

    public init(patientID: String?, sopInstanceUID: String?, studyInstanceUID: String?) {
        self.patientID = patientID
        self.sopInstanceUID = sopInstanceUID
        self.studyInstanceUID = studyInstanceUID
    }

    /// Reads the file's first 64 KiB (radiographs' headers end well before that), and the whole
    /// file only when its header runs past them. Errors as `ImageDecodingError`, naming the file.
    public static func read(path: String) throws -> DICOMIdentifiers {
        guard ImageFiles.isRegularFile(path) else {
            throw ImageDecodingError(path: path, reason: .unreadable("not a regular file"))
        }
        guard let handle = FileHandle(forReadingAtPath: path) else {
            throw ImageDecodingError(path: path, reason: .unreadable("cannot open the file"))
        }
        defer { try? handle.close() }
        let head: Data
        do { head = try handle.read(upToCount: prefixBytes) ?? Data() } catch {
            throw ImageDecodingError(path: path, reason: .unreadable("\(error)"))
        }
        do {
            return try identifiers([UInt8](head), path: path)
        } catch let e as ImageDecodingError where head.count == prefixBytes {
            guard case .truncated = e.reason else { throw e }
            let all: Data
            do { all = try Data(contentsOf: URL(fileURLWithPath: path)) } catch {
                throw ImageDecodingError(path: path, reason: .unreadable("\(error)"))
            }
            return try identifiers([UInt8](all), path: path)
        }
    }

    /// From bytes in memory (a whole file, or its beginning through the header).
    public static func identifiers(_ data: [UInt8], path: String) throws -> DICOMIdentifiers {
        let h = try DICOMDecoder.header(data, path: path)
        func value(_ s: String) -> String? {
            let t = s.trimmingCharacters(in: .whitespaces)
            return t.isEmpty ? nil : t
        }
        return DICOMIdentifiers(patientID: value(DICOMDecoder.string(h.patient_id)),
                                sopInstanceUID: value(DICOMDecoder.string(h.sop_instance_uid)),
                                studyInstanceUID: value(DICOMDecoder.string(h.study_instance_uid)))
    }

    static let prefixBytes = 64 << 10
}
