import Foundation
import Hummingbird
import HummingbirdTesting
import LightboxCore
import LightboxData
import LightboxImaging
import LightboxTestSupport
import XCTest
@testable import LightboxStudio

/// Issue 25's findings about what the Studio keeps on disk: who may read it, what an uploaded
/// DICOM file still says about its patient, and what a kill leaves behind.
final class StudioDataPrivacyTests: XCTestCase {
    var directory: URL!

    override func setUpWithError() throws { directory = Fixture.newDirectory() }
    override func tearDownWithError() throws { try? FileManager.default.removeItem(at: directory) }

    func app() throws -> some ApplicationProtocol {
        Application(router: try StudioAPI(settings: Fixture.settings(directory)).router())
    }

    static func mode(_ path: String) -> mode_t {
        var info = stat()
        return lstat(path, &info) == 0 ? info.st_mode & 0o777 : 0o7777
    }

    /// Every file and folder under `root` (itself included) whose mode lets group or others in.
    func openToOthers(_ root: URL) -> [String] {
        let all = [""] + ((try? FileManager.default.subpathsOfDirectory(atPath: root.path)) ?? [])
        return all.filter { Self.mode(root.appendingPathComponent($0).path) & 0o077 != 0 }
            .map { "\($0.isEmpty ? "." : $0) \(String(Self.mode(root.appendingPathComponent($0).path), radix: 8))" }
    }

    /// A data directory as earlier versions left it (0755 folders, 0644 files) is made owner-only
    /// when the Studio opens it; what it stores afterwards (pictures, the database, the salt) is
    /// owner-only from the start.
    func testDataDirectoryIsOwnerOnly() async throws {
        let xray = try Fixture.xray("000001-2.jpg")
        try await app().test(.router) { client in
            try await client.post("/api/projects", json: ["name": "p"])
            try await client.post("/api/projects/1/classes", json: ["name": "c"])
            let up = try await client.upload("/api/projects/1/classes/1/images?filename=a.jpg", xray)
            XCTAssertEqual(up.status, .created, Fixture.error(up))
        }
        // As an earlier version (or another umask) left it.
        for sub in [""] + (try FileManager.default.subpathsOfDirectory(atPath: directory.path)) {
            let path = directory.appendingPathComponent(sub).path
            var isFolder: ObjCBool = false
            _ = FileManager.default.fileExists(atPath: path, isDirectory: &isFolder)
            XCTAssertEqual(chmod(path, isFolder.boolValue ? 0o755 : 0o644), 0)
        }
        try await app().test(.router) { client in
            let up = try await client.upload("/api/projects/1/classes/1/images?filename=b.jpg", try Fixture.xray("00870a9c.jpg"))
            XCTAssertEqual(up.status, .created, Fixture.error(up))
        }
        XCTAssertEqual(Self.mode(directory.path), 0o700)
        XCTAssertEqual(openToOthers(directory), [], "readable by other users")
        let store = try StudioStore(directory: directory)
        for image in try store.images(projectId: 1) {
            XCTAssertEqual(Self.mode(store.imagePath(image).path), 0o600)
        }
        XCTAssertEqual(Self.mode(directory.appendingPathComponent("studio.sqlite").path), 0o600)
    }

    /// A fresh data directory (and its missing parent) is created owner-only.
    func testNewDataDirectoryIsOwnerOnly() throws {
        let nested = directory.appendingPathComponent("studio")
        _ = try StudioStore(directory: nested)
        XCTAssertEqual(Self.mode(nested.path), 0o700)
        XCTAssertEqual(openToOthers(nested), [], "readable by other users")
    }

    /// A kill between an upload's file and its row (or during any atomic write) leaves files no
    /// row refers to, which no API call can delete: the next start removes them, and keeps
    /// every file a row uses.
    func testStartRemovesFilesNoRowReferences() throws {
        let jpeg = try Data(contentsOf: Fixture.shared.appendingPathComponent("data/covid-chestxray/images/000001-2.jpg"))
        let kept: URL
        do {
            let store = try StudioStore(directory: directory)
            let project = try store.createProject(name: "p")
            let c = try store.addClass(projectId: project.id!, name: "c")
            kept = store.imagePath(try store.addImage(projectId: project.id!, classId: c.id!, data: jpeg, filename: "a.jpg", width: 1, height: 1))
        }
        // A process that has ended: its pid names a dead writer.
        let ended = Process()
        ended.executableURL = URL(fileURLWithPath: "/bin/true")
        try ended.run()
        ended.waitUntilExit()
        let dead = ended.processIdentifier
        let orphanDigest = String(repeating: "ab", count: 32)
        let orphan = directory.appendingPathComponent("images/ab/\(orphanDigest)")
        let temporary = directory.appendingPathComponent("images/ab/.\(orphanDigest).tmp-\(dead)-7@\(StaleTemporaries.host)")
        let runTemporary = directory.appendingPathComponent("runs/.3.tmp-\(dead)-8@\(StaleTemporaries.host)")
        let deletedRun = directory.appendingPathComponent("runs/9")
        try FileManager.default.createDirectory(at: orphan.deletingLastPathComponent(), withIntermediateDirectories: true)
        try jpeg.write(to: orphan)
        try Data("half".utf8).write(to: temporary)
        try FileManager.default.createDirectory(at: runTemporary, withIntermediateDirectories: true)
        try Data("half".utf8).write(to: runTemporary.appendingPathComponent("metrics.json"))
        try FileManager.default.createDirectory(at: deletedRun, withIntermediateDirectories: true)
        try Data("{}".utf8).write(to: deletedRun.appendingPathComponent("metrics.json"))
        // A live writer's temporary (this process) stays.
        let live = directory.appendingPathComponent("images/ab/.x.tmp-\(getpid())-9@\(StaleTemporaries.host)")
        try Data("writing".utf8).write(to: live)

        let store = try StudioStore(directory: directory)
        for gone in [orphan, temporary, runTemporary, deletedRun] {
            XCTAssertFalse(FileManager.default.fileExists(atPath: gone.path), "\(gone.path) is still there")
        }
        XCTAssertTrue(FileManager.default.fileExists(atPath: kept.path), "a stored picture was removed")
        XCTAssertTrue(FileManager.default.fileExists(atPath: live.path), "a live writer's temporary was removed")
        XCTAssertEqual(try store.images(projectId: 1).count, 1)
    }

    /// The Studio's file pickers take any file: a DICOM file often has no extension, and the
    /// server decides what a file is from its bytes. Only the camera inputs (issue 26, item 10)
    /// say `accept="image/*"`, which is what makes a phone offer its camera (`capture`); a photo
    /// is an image, and it goes through the same checks.
    func testFilePickersAcceptAnyFile() async throws {
        try await app().test(.router) { client in
            let html = String(buffer: try await client.executeRequest(uri: "/", method: .get, headers: [:], body: nil).body)
            let js = String(buffer: try await client.executeRequest(uri: "/static/studio.js", method: .get, headers: [:], body: nil).body)
            XCTAssertTrue(html.contains("type=\"file\""))
            XCTAssertTrue(js.contains("type: 'file'"))
            let camera = "accept=\"image/*\" capture=\"environment\""
            XCTAssertFalse(html.replacingOccurrences(of: camera, with: "").contains("accept="), "a file input of the page filters by name")
            let cameraJS = "accept: 'image/*', capture: 'environment'"
            XCTAssertFalse(js.replacingOccurrences(of: cameraJS, with: "").contains("accept:"), "a file input the script builds filters by name")
        }
    }

    // MARK: DICOM

    static let fixtures = URL(fileURLWithPath: TestSettings.local.folder("test-data/dicom-fixtures"))
    static let python = TestSettings.local.folder("test-data/dicom-venv/bin/python")

    /// Runs a pydicom script with arguments; its standard output.
    func pydicom(_ script: String, _ arguments: [String]) throws -> String {
        guard FileManager.default.isExecutableFile(atPath: Self.python),
              FileManager.default.fileExists(atPath: Self.fixtures.appendingPathComponent("manifest.json").path) else {
            let message = "no DICOM venv or fixtures under \(TestSettings.local.folder("test-data")): scripts/test.sh makes them"
            if ProcessInfo.processInfo.environment["CI"] != nil { XCTFail(message) }
            throw XCTSkip(message)
        }
        let p = Process(), out = Pipe(), err = Pipe()
        p.executableURL = URL(fileURLWithPath: Self.python)
        p.arguments = ["-c", script] + arguments
        p.standardOutput = out
        p.standardError = err
        try p.run()
        let text = out.fileHandleForReading.readDataToEndOfFile()
        let problem = err.fileHandleForReading.readDataToEndOfFile()
        p.waitUntilExit()
        guard p.terminationStatus == 0 else {
            throw StudioError(.badRequest, "pydicom script failed: \(String(decoding: problem, as: UTF8.self))")
        }
        return String(decoding: text, as: UTF8.self)
    }

    /// A fixture with what a hospital's file carries about its patient and staff added.
    static let identify = """
    from sys import argv
    from pydicom import dcmread
    from pydicom.dataset import Dataset
    from pydicom.sequence import Sequence
    ds = dcmread(argv[1])
    ds.PatientName = "Doe^Jane^Secret"
    ds.PatientBirthDate = "19510203"
    ds.PatientAddress = "12 Secret Street, Springfield"
    ds.OtherPatientIDs = "SECRET-OTHER-ID"
    ds.PatientAge = "071Y"
    ds.InstitutionName = "Secret General Hospital"
    ds.InstitutionAddress = "1 Secret Road"
    ds.ReferringPhysicianName = "Secret^Referrer"
    ds.PerformingPhysicianName = "Secret^Performer"
    ds.OperatorsName = "Secret^Operator"
    ds.AccessionNumber = "SECRETACC42"
    ds.StudyDate = "20230405"
    ds.StudyTime = "101112"
    ds.AcquisitionDateTime = "20230405101112"
    ds.StationName = "SECRETSTATION"
    ds.DeviceSerialNumber = "SECRETSERIAL"
    ds.StudyDescription = "Secret description"
    item = Dataset()
    item.RequestingPhysician = "Secret^Requester"
    ds.RequestAttributesSequence = Sequence([item])
    block = ds.private_block(0x0009, "SECRET VENDOR", create=True)
    block.add_new(0x01, "LO", "SECRET PRIVATE VALUE")
    ds.file_meta.SourceApplicationEntityTitle = "SECRETAE"
    ds.save_as(argv[2], enforce_file_format=True)
    """

    /// Everything in a file's header and data set (sequences included) as lines, and what
    /// the checks need: PatientID, the de-identification flags, whether private tags remain,
    /// and whether the pixel data is byte for byte the original's.
    static let describe = """
    from sys import argv
    from json import dumps
    from pydicom import dcmread
    stored = dcmread(argv[1])
    original = dcmread(argv[2])
    lines = []
    def walk(ds):
        for e in ds:
            if e.VR == "SQ":
                for item in e.value:
                    walk(item)
            elif e.tag != 0x7FE00010:
                lines.append(f"{e.tag} {e.keyword} {e.value}")
    walk(stored.file_meta)
    walk(stored)
    private = []
    def private_tags(ds):
        for e in ds:
            if e.tag.is_private:
                private.append(str(e.tag))
            if e.VR == "SQ":
                for item in e.value:
                    private_tags(item)
    private_tags(stored)
    print(dumps({
        "lines": lines,
        "patientID": str(stored.get("PatientID", "")),
        "removed": str(stored.get("PatientIdentityRemoved", "")),
        "method": str(stored.get("DeidentificationMethod", "")),
        "private": private,
        "samePixels": stored.PixelData == original.PixelData,
        "syntax": str(stored.file_meta.TransferSyntaxUID),
        "originalSyntax": str(original.file_meta.TransferSyntaxUID),
        "sameUID": stored.SOPInstanceUID == original.SOPInstanceUID,
        "metaUID": stored.file_meta.MediaStorageSOPInstanceUID == stored.SOPInstanceUID,
    }))
    """

    static let secrets = ["Doe", "Jane", "Secret", "SECRET", "19510203", "19700101", "Fake^Patient", "LBX-FAKE", "071Y",
                          "20230405", "20200101", "101112"]
    /// Long enough never to turn up by chance in compressed pixel data.
    static let longSecrets = ["Doe^Jane^Secret", "Secret General Hospital", "SECRET-OTHER-ID", "SECRETACC42", "SECRET PRIVATE",
                              "SECRETSTATION", "SECRETSERIAL", "Secret^Requester", "Fake^Patient", "LBX-FAKE", "19510203"]

    /// An uploaded DICOM file is stored without what identifies its patient (PS3.15 Annex E's
    /// basic profile: names, birth date, address, other ids, institution, physicians, accession
    /// number, dates and times, private tags, UIDs replaced), with PatientID the pseudonym its
    /// group already is, PatientIdentityRemoved YES, and the same pixels. Uploaded under a name
    /// without an extension, as files from a PACS often are.
    func testStoredDICOMHasNoIdentifyingAttributes() async throws {
        let work = directory.appendingPathComponent("fixtures")
        try FileManager.default.createDirectory(at: work, withIntermediateDirectories: true)
        // Native 12-bit, implicit VR, deflated, and encapsulated (JPEG 2000, RLE) pixel data.
        let names = ["mono1_12bit_window", "implicit_le", "deflated_le", "j2k_lossless", "rle_lossless", "voi_lut_sequence"]
        var originals: [URL] = []
        for name in names {
            let out = work.appendingPathComponent(name.uppercased())  // no extension
            _ = try pydicom(Self.identify, [Self.fixtures.appendingPathComponent("\(name).dcm").path, out.path])
            originals.append(out)
        }
        try await app().test(.router) { client in
            try await client.post("/api/projects", json: ["name": "hospital"])
            try await client.post("/api/projects/1/classes", json: ["name": "c"])
            for original in originals {
                let bytes = try Data(contentsOf: original)
                let up = try await client.upload("/api/projects/1/classes/1/images?filename=\(original.lastPathComponent)", ByteBuffer(bytes: bytes))
                XCTAssertEqual(up.status, .created, "\(original.lastPathComponent): \(Fixture.error(up))")
            }
        }
        let store = try StudioStore(directory: directory)
        let images = try store.images(projectId: 1)
        XCTAssertEqual(images.count, originals.count)
        let decoder = ImageDecoder(maxPixels: LightboxSettings.defaultMaxPixels, dicomWindow: .first)
        for (image, original) in zip(images, originals) {
            let stored = store.imagePath(image)
            let bytes = try Data(contentsOf: stored)
            XCTAssertEqual(SHA256.hex(bytes), image.sha256, "the row names the stored bytes")
            let text = String(decoding: bytes, as: UTF8.self)
            for secret in Self.longSecrets {
                XCTAssertFalse(text.contains(secret), "\(image.filename): the stored file holds \(secret)")
            }
            let report = try JSONSerialization.jsonObject(with: Data(try pydicom(Self.describe, [stored.path, original.path]).utf8)) as! [String: Any]
            let lines = (report["lines"] as? [String] ?? []).joined(separator: "\n")
            for secret in Self.secrets {
                XCTAssertFalse(lines.contains(secret), "\(image.filename): the stored data set holds \(secret):\n\(lines)")
            }
            XCTAssertEqual(report["patientID"] as? String, image.groupName, "\(image.filename): PatientID is the pseudonym")
            let patient = try XCTUnwrap(try DICOMIdentifiers.read(path: original.path).patientID)
            XCTAssertEqual(image.groupName, try PatientPseudonyms.stored(in: directory.path).pseudonym(for: patient))
            XCTAssertEqual(report["removed"] as? String, "YES")
            XCTAssertFalse((report["method"] as? String ?? "").isEmpty)
            XCTAssertEqual(report["private"] as? [String], [], "\(image.filename): private tags remain")
            XCTAssertEqual(report["samePixels"] as? Bool, true, "\(image.filename): the pixel data changed")
            XCTAssertEqual(report["sameUID"] as? Bool, false, "\(image.filename): UIDs are replaced")
            XCTAssertEqual(report["metaUID"] as? Bool, true, "\(image.filename): the file meta names the instance")
            if report["originalSyntax"] as? String != "1.2.840.10008.1.2.1.99" {
                XCTAssertEqual(report["syntax"] as? String, report["originalSyntax"] as? String)
            }
            let before = try decoder.decode(data: [UInt8](try Data(contentsOf: original)), path: original.path)
            let after = try decoder.decode(data: [UInt8](bytes), path: stored.path)
            XCTAssertEqual([after.width, after.height], [before.width, before.height])
            XCTAssertEqual(after.pixels, before.pixels, "\(image.filename): decodes to other pixels")
        }
        // The same file uploaded again is the same stored picture (de-identification is deterministic).
        try await app().test(.router) { client in
            let again = try await client.upload("/api/projects/1/classes/1/images?filename=AGAIN", ByteBuffer(bytes: try Data(contentsOf: originals[0])))
            XCTAssertEqual(again.status, .created)
        }
        XCTAssertEqual(try store.images(projectId: 1).count, originals.count)
    }
}
