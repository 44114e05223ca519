import Foundation
import LightboxCore
import LightboxTestSupport
import XCTest
@testable import LightboxData

/// DICOM files in data sources: class folders group them by PatientID (as pseudonyms), and
/// `dicom-dir` matches labels by SOP Instance UID, Study Instance UID or relative path, skipping
/// what it cannot match with the reason. Uses the fixtures scripts/test.sh makes
/// (scripts/reference/make_dicom_fixtures.py; their PatientIDs are LBX-FAKE-000N).
final class DICOMSourceTests: TemporaryFolderTestCase {
    static let fixtures = URL(fileURLWithPath: TestSettings.local.folder("test-data/dicom-fixtures"))

    func fixture(_ name: String) throws -> URL {
        let url = Self.fixtures.appendingPathComponent(name)
        guard FileManager.default.fileExists(atPath: url.path) else {
            let message = "no DICOM fixtures at \(Self.fixtures.path): scripts/test.sh makes them"
            if ProcessInfo.processInfo.environment["CI"] != nil { XCTFail(message) }
            throw XCTSkip(message)
        }
        return url
    }

    /// Copies fixtures into `folder` under new names (a name without an extension keeps the preamble's say).
    func place(_ files: [(String, String)], in folder: URL) throws {
        try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
        for (fixtureName, name) in files {
            try FileManager.default.copyItem(at: try fixture(fixtureName), to: folder.appendingPathComponent(name))
        }
    }

    func testClassFoldersGroupDICOMByPatientPseudonym() throws {
        // Patient 0000 twice in class A (one file without an extension), 0001 once in A and once in B.
        try place([("mono1_12bit_window.dcm", "1.dcm"), ("mono2_12bit_window.dcm", "00002"), ("mono2_no_window.dcm", "3.DCM")],
                  in: work.appendingPathComponent("data/A"))
        try place([("signed16_rescale.dcm", "4.dcm")], in: work.appendingPathComponent("data/B"))
        try Data("not a picture".utf8).write(to: work.appendingPathComponent("data/B/notes"))
        let salt = work.appendingPathComponent("home").path
        let d = try DatasetLoader.load(work.appendingPathComponent("data").path, saltFolder: salt)
        XCTAssertEqual(d.images.count, 4, "the file without an extension is read by its preamble; 'notes' is not a picture")
        XCTAssertTrue(d.hasGroups)
        let p = try PatientPseudonyms.stored(in: salt)
        XCTAssertEqual(d.pseudonyms, p)
        let groups = Dictionary(uniqueKeysWithValues: d.images.map { (($0.path as NSString).lastPathComponent, $0.group) })
        XCTAssertEqual(groups["1.dcm"], p.pseudonym(for: "LBX-FAKE-0000"))
        XCTAssertEqual(groups["00002"], p.pseudonym(for: "LBX-FAKE-0000"))
        XCTAssertEqual(groups["3.DCM"], p.pseudonym(for: "LBX-FAKE-0001"))
        XCTAssertEqual(groups["4.dcm"], p.pseudonym(for: "LBX-FAKE-0001"))
        XCTAssertFalse(d.images.contains { $0.group.contains("LBX") })
    }

    /// A FIFO among the pictures, named like DICOM or without an extension, is never opened
    /// (opening it would wait for a writer forever): loading finishes and leaves it to the decoder.
    func testFIFOsAreNeverOpened() throws {
        try place([("mono1_12bit_window.dcm", "1.dcm")], in: work.appendingPathComponent("data/A"))
        XCTAssertEqual(mkfifo(work.appendingPathComponent("data/A/2.dcm").path, 0o600), 0)
        XCTAssertEqual(mkfifo(work.appendingPathComponent("data/A/00003").path, 0o600), 0)
        let folder = work.appendingPathComponent("data").path, salt = work.appendingPathComponent("home").path
        let done = expectation(description: "loaded")
        nonisolated(unsafe) var loaded: Dataset?
        Thread {
            loaded = try? DatasetLoader.load(folder, saltFolder: salt)
            done.fulfill()
        }.start()
        wait(for: [done], timeout: 20)
        XCTAssertEqual(loaded?.images.map { ($0.path as NSString).lastPathComponent }.sorted(), ["1.dcm", "2.dcm"],
                       "the .dcm FIFO is listed (the decoder refuses it later), the extensionless one is not a picture")
    }

    func testNoSaltIsMadeWithoutDICOM() throws {
        try place([], in: work.appendingPathComponent("data/A"))
        try FileManager.default.copyItem(atPath: TorchReference.xray.path, toPath: work.appendingPathComponent("data/A/x.jpg").path)
        let salt = work.appendingPathComponent("home")
        let d = try DatasetLoader.load(work.appendingPathComponent("data").path, saltFolder: salt.path)
        XCTAssertNil(d.pseudonyms)
        XCTAssertFalse(FileManager.default.fileExists(atPath: salt.appendingPathComponent(PatientPseudonyms.fileName).path))
    }

    func testDICOMDirectoryByEachKey() throws {
        let dir = work.appendingPathComponent("export")
        try place([("mono1_12bit_window.dcm", "1"), ("mono2_no_window.dcm", "2")], in: dir.appendingPathComponent("S1"))
        try place([("implicit_le.dcm", "3")], in: dir.appendingPathComponent("S2"))
        try Data("junk".utf8).write(to: dir.appendingPathComponent("S2/DICOMDIR.txt"))
        let salt = work.appendingPathComponent("home").path
        func load(_ csv: String) throws -> Dataset {
            let labels = work.appendingPathComponent("labels.csv")
            try csv.write(to: labels, atomically: true, encoding: .utf8)
            return try DatasetLoader.load(dir.path, kind: .dicomDir, labels: labels.path, saltFolder: salt)
        }
        // By SOP Instance UID: one row per picture; a row whose picture is missing and a file
        // without a row are both skipped, naming neither UID.
        let bySOP = try load("sop_instance_uid,label\n1.2.826.0.1.3680043.8.498.1.2,A\n1.2.826.0.1.3680043.8.498.1.9999,B\n")
        XCTAssertEqual(bySOP.images.map { ($0.path as NSString).lastPathComponent }, ["1"])
        XCTAssertTrue(bySOP.skipped.contains { $0.item == "labels.csv:3" && $0.reason.contains("no DICOM file") }, "\(bySOP.skipped)")
        XCTAssertTrue(bySOP.skipped.contains { $0.item.hasSuffix("S1/2") && $0.reason.contains("no row of labels.csv") }, "\(bySOP.skipped)")
        XCTAssertFalse(bySOP.skipped.contains { $0.reason.contains("1.2.826") })
        // By Study Instance UID: every picture of the study.
        let byStudy = try load("study_instance_uid,label\n1.2.826.0.1.3680043.8.498.2.0,A\n1.2.826.0.1.3680043.8.498.2.2,B\n")
        XCTAssertEqual(Set(byStudy.images.map { "\(($0.path as NSString).lastPathComponent)=\($0.label)" }), ["1=A", "3=B"])
        // By path, with a group column that overrides the PatientID.
        let byPath = try load("path,label,group\nS1/1,A,g1\nS1/2,B,g1\nS2/3,B,\n")
        XCTAssertEqual(byPath.images.count, 3)
        XCTAssertEqual(byPath.images.filter { $0.group == "group:g1" }.count, 2)
        let p = try PatientPseudonyms.stored(in: salt)
        XCTAssertEqual(byPath.images.first { $0.path.hasSuffix("S2/3") }?.group, p.pseudonym(for: "LBX-FAKE-0002"))
        // No key column, or no labels at all: an error naming what to give.
        XCTAssertThrowsError(try load("uid,label\nx,A\n")) { XCTAssertTrue("\($0)".contains("sop_instance_uid"), "\($0)") }
        XCTAssertThrowsError(try DatasetLoader.load(dir.path, kind: .dicomDir, saltFolder: salt)) {
            XCTAssertTrue("\($0)".contains("--labels"), "\($0)")
        }
    }
}
