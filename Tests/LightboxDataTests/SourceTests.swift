import Foundation
import LightboxTestSupport
import XCTest
@testable import LightboxData

final class SourceTests: TemporaryFolderTestCase {
    static let covid = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
        .deletingLastPathComponent().deletingLastPathComponent().appendingPathComponent("shared/data/covid-chestxray").path


    func touch(_ relative: String, _ text: String = "x") throws {
        let url = work.appendingPathComponent(relative)
        try FileManager.default.createDirectory(at: url.deletingLastPathComponent(), withIntermediateDirectories: true)
        try Data(text.utf8).write(to: url)
    }

    func testCovidChestXrayWithTheBlogsMapping() throws {
        let dataset = try DatasetLoader.load(Self.covid, saltFolder: TestSettings.local.home)
        XCTAssertEqual(dataset.classes, ["COVID-19", "OTHER"])
        XCTAssertTrue(dataset.hasGroups)
        // The shared copy's README: 358 COVID-19 and 102 other X-ray rows with images present,
        // of which some have views other than PA, AP and AP Supine.
        let counts = dataset.countsPerClass
        XCTAssertGreaterThan(counts[0], 250)
        XCTAssertLessThanOrEqual(counts[0], 358)
        XCTAssertGreaterThan(counts[1], 50)
        XCTAssertLessThanOrEqual(counts[1], 102)
        let reasons = Set(dataset.skipped.map { $0.reason.split(separator: " ").prefix(2).joined(separator: " ") })
        XCTAssertTrue(reasons.contains("missing file"), "\(reasons)")
        XCTAssertTrue(reasons.contains("excluded finding"), "\(reasons)")
        XCTAssertTrue(reasons.contains("filtered view"), "\(reasons)")
        XCTAssertTrue(reasons.contains("filtered modality"), "\(reasons)")
        XCTAssertTrue(dataset.skipped.contains { $0.reason == "excluded finding 'todo'" })
        XCTAssertTrue(dataset.images.allSatisfy { $0.group.hasPrefix("patient:") })
        XCTAssertLessThan(Set(dataset.images.map(\.group)).count, dataset.images.count, "patients have several images")
    }

    func testLabelMapRules() throws {
        let map = try LabelMap(parsing: "COVID-19*=COVID-19,todo=,=,*=OTHER")
        XCTAssertEqual(map.label(for: "COVID-19, ARDS"), "COVID-19")
        XCTAssertEqual(map.label(for: "SARS"), "OTHER")
        XCTAssertNil(map.label(for: "todo"))
        XCTAssertNil(map.label(for: ""))
        XCTAssertThrowsError(try LabelMap(parsing: "COVID-19"))
    }

    func testClassFoldersSkipNonImages() throws {
        try touch("cats/a.png"); try touch("cats/deep/b.JPG"); try touch("dogs/c.jpeg")
        try touch("dogs/.DS_Store"); try touch("readme.txt")
        let dataset = try DatasetLoader.load(work.path, saltFolder: TestSettings.local.home)
        XCTAssertEqual(dataset.classes, ["cats", "dogs"])
        XCTAssertEqual(dataset.countsPerClass, [2, 1])
        XCTAssertFalse(dataset.hasGroups)
        XCTAssertEqual(Set(dataset.skipped.map(\.reason)), ["not an image file", "not inside a class folder"])
    }

    func testCSVListRejectsEscapingPathsAndMissingFiles() throws {
        try touch("imgs/a.png"); try touch("imgs/b.png")
        let csv = "\u{FEFF}path,label,group\r\nimgs/a.png,sick,p1\r\nimgs/b.png,well,p2\r\n../../etc/passwd,sick,p3\r\n/etc/hosts,well,p4\r\nimgs/none.png,well,p5\r\nimgs/a.png,sick,p1\r\n"
        try touch("list.csv", csv)
        let dataset = try DatasetLoader.load(work.appendingPathComponent("list.csv").path, saltFolder: TestSettings.local.home)
        XCTAssertEqual(dataset.images.map(\.label), ["sick", "well"])
        XCTAssertEqual(dataset.images.map(\.group), ["group:p1", "group:p2"])
        XCTAssertEqual(dataset.skipped.count, 4)
        XCTAssertEqual(dataset.skipped.filter { $0.reason.contains("leaves the data folder") }.count, 2)
        XCTAssertTrue(dataset.skipped.contains { $0.reason == "missing file" })
        XCTAssertTrue(dataset.skipped.contains { $0.reason.contains("duplicate row") })
    }

    /// A `name` column is what reports call each picture; an empty cell or no column: the file name.
    func testCSVListNames() throws {
        try touch("imgs/3f9a.png"); try touch("imgs/b.png")
        try touch("named.csv", "path,label,name\nimgs/3f9a.png,sick,chest of Ann.png\nimgs/b.png,well,\n")
        let dataset = try DatasetLoader.load(work.appendingPathComponent("named.csv").path, saltFolder: TestSettings.local.home)
        XCTAssertEqual(dataset.images.map(\.displayName), ["chest of Ann.png", "b.png"])
        try touch("plain.csv", "path,label\nimgs/3f9a.png,sick\n")
        XCTAssertEqual(try DatasetLoader.load(work.appendingPathComponent("plain.csv").path, saltFolder: TestSettings.local.home).images.map(\.displayName), ["3f9a.png"])
    }

    func testCSVWithoutRequiredColumnsIsAClearError() throws {
        try touch("bad.csv", "file,class\na.png,x\n")
        XCTAssertThrowsError(try DatasetLoader.load(work.appendingPathComponent("bad.csv").path, saltFolder: TestSettings.local.home)) { error in
            XCTAssertTrue("\(error)".contains("missing columns path, label"), "\(error)")
        }
    }
}
