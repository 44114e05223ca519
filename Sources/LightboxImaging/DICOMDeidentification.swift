import CLightboxDICOM
import Foundation

/// A DICOM file without what identifies its patient (PS3.15 Annex E's basic profile, as a
/// keep-list: see `lightbox_dicom_deidentify`): the pixels and what decoding them needs, UIDs
/// replaced by keyed hashes, PatientID the caller's pseudonym, PatientIdentityRemoved YES.
/// The same file, pseudonym and key always give the same bytes.
public enum DICOMDeidentification {
    /// - Parameter pseudonym: the new PatientID (nil: an empty one).
    /// - Parameter uidKey: the key of the replaced UIDs (e.g. the patient-id salt).
    /// Errors as `ImageDecodingError`, naming `path`.
    public static func deidentified(_ data: [UInt8], pseudonym: String?, uidKey: [UInt8], path: String) throws -> [UInt8] {
        let file = try DICOMDecoder.File(data, path: path, headerOnly: false)
        var out: UnsafeMutablePointer<UInt8>?
        var count = 0
        var error = [CChar](repeating: 0, count: 256)
        let status = uidKey.withUnsafeBufferPointer { key in
            lightbox_dicom_deidentify(file.handle, pseudonym ?? "", key.baseAddress, key.count, &out, &count, &error, error.count)
        }
        guard status == LIGHTBOX_DICOM_OK, let out else { throw DICOMDecoder.failure(status, error, path) }
        defer { lightbox_dicom_free(out) }
        return Array(UnsafeBufferPointer(start: out, count: count))
    }
}
