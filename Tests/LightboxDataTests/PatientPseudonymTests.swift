import Foundation
import LightboxCore
import LightboxTestSupport
import XCTest
@testable import LightboxData

final class PatientPseudonymTests: TemporaryFolderTestCase {
    /// RFC 4231 test case 2: the HMAC the pseudonyms are made with, against the standard's value.
    func testHMACMatchesRFC4231() {
        XCTAssertEqual(HMACSHA256.hex(key: Array("Jefe".utf8), message: Array("what do ya want for nothing?".utf8)),
                       "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843")
    }

    func testPseudonymIsTheKeyedHashAndHidesTheId() {
        let salt = [UInt8](repeating: 7, count: 32)
        let p = PatientPseudonyms(salt: salt)
        let expected = "patient-" + HMACSHA256.hex(key: salt, message: Array("PAT-0042".utf8)).prefix(16)
        XCTAssertEqual(p.pseudonym(for: "PAT-0042"), expected)
        XCTAssertFalse(p.pseudonym(for: "PAT-0042").contains("0042"))
        // The README's Python line (hmac.new(salt, id, "sha256")), run with this salt and id.
        XCTAssertEqual(p.pseudonym(for: "PAT-0042"), "patient-17cb4d8491ea11d6")
        XCTAssertNotEqual(p.pseudonym(for: "PAT-0042"), PatientPseudonyms(salt: [UInt8](repeating: 8, count: 32)).pseudonym(for: "PAT-0042"),
                          "another salt gives another pseudonym")
    }

    func testSaltIsMadeOnceOwnerOnlyAndCopiedIntoARun() throws {
        let dir = work!
        let first = try PatientPseudonyms.stored(in: dir.path)
        let again = try PatientPseudonyms.stored(in: dir.path)
        XCTAssertEqual(first, again, "the salt is kept")
        let path = dir.path + "/" + PatientPseudonyms.fileName
        let mode = try FileManager.default.attributesOfItem(atPath: path)[.posixPermissions] as? Int
        XCTAssertEqual(mode, 0o600)
        try first.write(into: dir.path + "/run")
        XCTAssertEqual(try PatientPseudonyms.stored(in: dir.path + "/run"), first)
        try "not hex\n".write(toFile: path, atomically: true, encoding: .utf8)
        XCTAssertThrowsError(try PatientPseudonyms.stored(in: dir.path)) { error in
            XCTAssertTrue("\(error)".contains(PatientPseudonyms.fileName), "\(error)")
        }
    }
}
