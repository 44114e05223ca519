import Foundation
import LightboxCore

/// Patient ids read from DICOM headers never reach an output as they are: the loader turns
/// each into `patient-` and the first 16 hex digits of HMAC-SHA256(salt, PatientID). The salt
/// is 32 random bytes kept once per user (`LIGHTBOX_HOME/patient-id-salt`, owner-only) and
/// copied into each run directory that used it, so a user can join results back to patients
/// on their own machine and nobody holding only the outputs can.
public struct PatientPseudonyms: Sendable, Equatable {
    public let salt: [UInt8]

    /// The salt's file name, in the cache and in a run directory.
    public static let fileName = "patient-id-salt"

    public init(salt: [UInt8]) {
        self.salt = salt
    }

    /// The pseudonym that stands for `patientID` everywhere Lightbox writes or shows a group.
    public func pseudonym(for patientID: String) -> String {
        "patient-" + HMACSHA256.hex(key: salt, message: Array(patientID.utf8)).prefix(16)
    }

    /// The salt of `folder/patient-id-salt`, created there (64 hex digits, mode 0600) when it
    /// does not exist yet.
    public static func stored(in folder: String) throws -> PatientPseudonyms {
        let path = (folder as NSString).appendingPathComponent(fileName)
        if let text = try? String(contentsOfFile: path, encoding: .utf8) {
            guard let salt = hexBytes(text.trimmingCharacters(in: .whitespacesAndNewlines)), salt.count == 32 else {
                throw DatasetError("\(path): not a patient-id salt (64 hex digits expected); delete it to make a new one, which changes every pseudonym")
            }
            return PatientPseudonyms(salt: salt)
        }
        var salt = [UInt8](repeating: 0, count: 32)
        var generator = SystemRandomNumberGenerator()
        for i in salt.indices { salt[i] = generator.next() }
        let made = PatientPseudonyms(salt: salt)
        try made.write(into: folder)
        // Two processes may create it at once: whichever rename came last is the salt.
        return try stored(in: folder)
    }

    /// Writes the salt into `folder` (a run directory), owner-only, atomically.
    public func write(into folder: String) throws {
        try FileManager.default.createDirectory(atPath: folder, withIntermediateDirectories: true)
        let path = (folder as NSString).appendingPathComponent(Self.fileName)
        let hex = salt.map { String(format: "%02x", $0) }.joined() + "\n"
        try AtomicFile.write(Data(hex.utf8), to: path, permissions: 0o600)
    }

    static func hexBytes(_ s: String) -> [UInt8]? {
        let digits = Array(s.utf8)
        guard digits.count % 2 == 0 else { return nil }
        var bytes: [UInt8] = []
        bytes.reserveCapacity(digits.count / 2)
        for i in stride(from: 0, to: digits.count, by: 2) {
            guard let b = UInt8(String(decoding: digits[i..<i + 2], as: UTF8.self), radix: 16) else { return nil }
            bytes.append(b)
        }
        return bytes
    }
}
