import Foundation
import LightboxCore
import LightboxImaging
import LightboxTestSupport
import XCTest
@testable import LightboxData

/// `PictureNames` (`--identify-by`): what each identity calls a picture, a skipped item, a
/// group and a decoder's message, on files in a folder named after a patient.
final class PictureNamesTests: TemporaryFolderTestCase {
    static let fixture = TestSettings.local.folder("test-data/dicom-fixtures/mono2_8bit.dcm")

    func testEachIdentityNamesAPictureWithoutItsFolder() throws {
        let folder = work.appendingPathComponent("HANSEN_ERIK - MRN100211")
        try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
        let png = folder.appendingPathComponent("HANSEN_ERIK.png").path
        let bytes = Data("not really a PNG, but bytes to digest".utf8)
        try bytes.write(to: URL(fileURLWithPath: png))
        let digestName = "sha256-" + SHA256.hex(bytes).prefix(16)

        XCTAssertEqual(PictureNames(.path, paths: [png], digests: [:], threads: 1).name(png), png)
        let byDigest = PictureNames(.digest, paths: [png], digests: [:], threads: 1)
        XCTAssertEqual(byDigest.name(png), digestName)
        // The digests already computed are used as they are.
        XCTAssertEqual(PictureNames(.digest, paths: [png], digests: [png: .success(String(repeating: "ab", count: 32))], threads: 1).name(png),
                       "sha256-abababababababab")
        // Not DICOM: `uid` falls back on the digest.
        XCTAssertEqual(PictureNames(.uid, paths: [png], digests: [:], threads: 1).name(png), digestName)

        // Groups that are paths (no patient ids) are named as the picture; pseudonyms stay.
        XCTAssertEqual(byDigest.group(LabeledImage(path: png, label: "a", group: png)), digestName)
        XCTAssertEqual(byDigest.group(LabeledImage(path: png, label: "a", group: "patient-0123")), "patient-0123")

        // Skipped items: pictures by name, table rows without the path after them, folders by
        // their last component, anything else not shown.
        XCTAssertEqual(byDigest.item(png), digestName)
        XCTAssertEqual(byDigest.item("list.csv:17 HANSEN_ERIK - MRN100211/x.png"), "list.csv:17")
        // (a class folder of the class-folders source, named after its class)
        let classFolder = work.appendingPathComponent("COVID-19")
        try FileManager.default.createDirectory(at: classFolder, withIntermediateDirectories: true)
        XCTAssertEqual(byDigest.item(classFolder.path), "COVID-19")
        XCTAssertFalse(byDigest.item("/gone/HANSEN_ERIK.png").contains("HANSEN"))

        // Errors and decoders' warnings name the picture.
        XCTAssertEqual(byDigest.describe(ImageDecodingError(path: png, reason: .empty)), "\(digestName): file is empty (0 bytes)")
        XCTAssertEqual(byDigest.renamingLeadingPath("\(png): 3 frames, only the first is used"), "\(digestName): 3 frames, only the first is used")
        XCTAssertEqual(byDigest.renamingLeadingPath("no path here: at all"), "no path here: at all")
        // An unreadable file is named by a hash of its path, never the path.
        XCTAssertTrue(byDigest.name("/gone/HANSEN_ERIK.png").hasPrefix("unreadable-"))
    }

    func testUIDIsTheSOPInstanceUID() throws {
        guard FileManager.default.fileExists(atPath: Self.fixture) else {
            if ProcessInfo.processInfo.environment["CI"] != nil { XCTFail("no DICOM fixtures: scripts/test.sh makes them") }
            throw XCTSkip("no DICOM fixtures: scripts/test.sh makes them")
        }
        let copy = work.appendingPathComponent("OLSEN_KARI - MRN100212/1").path
        try FileManager.default.createDirectory(atPath: (copy as NSString).deletingLastPathComponent, withIntermediateDirectories: true)
        try FileManager.default.copyItem(atPath: Self.fixture, toPath: copy)
        let uid = try XCTUnwrap(DICOMIdentifiers.read(path: copy).sopInstanceUID)
        XCTAssertEqual(PictureNames(.uid, paths: [copy], digests: [:], threads: 1).name(copy), uid)
        XCTAssertTrue(PictureNames.isUID(uid))
        XCTAssertFalse(PictureNames.isUID("1.2.3\nHANSEN"))
        XCTAssertFalse(PictureNames.isUID(String(repeating: "1", count: 65)))
    }

    func testTheDefaultIsUIDForDICOMFoldersOnly() {
        XCTAssertEqual(PictureIdentity.default(for: .dicomDir), .uid)
        for kind in [SourceKind.folders, .csv, .covidChestxray, nil] { XCTAssertEqual(PictureIdentity.default(for: kind), .path) }
    }
}
