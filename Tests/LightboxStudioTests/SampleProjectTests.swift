import Foundation
import Hummingbird
import HummingbirdTesting
import LightboxCore
import LightboxData
import LightboxTestSupport
import XCTest
@testable import LightboxStudio

/// `/api/sample-project`: the ready-made project from the covid-chestxray-dataset.
final class SampleProjectTests: XCTestCase {
    var directory: URL!

    override func setUpWithError() throws { directory = Fixture.newDirectory() }
    override func tearDownWithError() throws { try? FileManager.default.removeItem(at: directory) }

    static let data = Fixture.shared.appendingPathComponent("data/covid-chestxray")

    /// From the developer copy: two classes of 30, one picture per patient (grouped by patient),
    /// and the licences of exactly the pictures imported, as metadata.csv gives them.
    func testSampleImportsThirtyPicturesPerClassOnePerPatientWithTheirLicences() async throws {
        guard FileManager.default.fileExists(atPath: Self.data.appendingPathComponent("metadata.csv").path) else {
            throw XCTSkip("no developer data at \(Self.data.path)")
        }
        var settings = Fixture.settings(directory)
        settings.sampleData = Self.data.path
        let studio = try StudioAPI(settings: settings)
        // metadata.csv read here on its own: file name -> (patient, licence).
        let table = try TableReader.read(Self.data.appendingPathComponent("metadata.csv").path, requiredColumns: ["filename", "patientid"])
        var lookup: [String: (patient: String, license: String)] = [:]
        for (_, row) in table.rows { lookup[row["filename"]!] = (row["patientid"]!, row["license"] ?? "") }
        let rows = lookup

        try await Application(router: studio.router()).test(.router) { client in
            let before = try Fixture.decode(try await client.get("/api/sample-project")) as! [String: Any]
            XCTAssertEqual(before["available"] as? Bool, true)
            XCTAssertEqual(before["perClass"] as? [String: Int], ["COVID-19": 30, "other finding": 30])
            XCTAssertEqual(before["sourceURL"] as? String, "https://github.com/ieee8023/covid-chestxray-dataset")
            XCTAssertTrue((before["source"] as? String ?? "").contains("Cohen"))
            let offered = try XCTUnwrap(before["licences"] as? [[String: Any]])
            XCTAssertEqual(offered.compactMap { $0["count"] as? Int }.reduce(0, +), 60)

            let response = try await client.post("/api/sample-project", json: [String: Any]())
            XCTAssertEqual(response.status, .created, String(buffer: response.body))
            let body = try Fixture.decode(response) as! [String: Any]
            XCTAssertEqual(body["imported"] as? Int, 60, String(buffer: response.body))
            let project = try XCTUnwrap(body["project"] as? [String: Any])
            XCTAssertEqual(project["name"] as? String, "Sample: COVID-19 or other finding")
            let id = try XCTUnwrap(project["id"] as? Int)

            let detail = try Fixture.decode(try await client.get("/api/projects/\(id)")) as! [String: Any]
            let classes = (detail["classes"] as! [[String: Any]]).map { ($0["name"] as! String, $0["images"] as! Int) }
            XCTAssertEqual(classes.map(\.0).sorted(), ["COVID-19", "other finding"])
            XCTAssertEqual(classes.map(\.1), [30, 30])

            let images = try studio.store.images(projectId: Int64(id))
            XCTAssertEqual(images.count, 60)
            var expected: [String: Int] = [:], patients = Set<String>()
            for image in images {
                let row = try XCTUnwrap(rows[image.filename], "\(image.filename) is not in metadata.csv")
                patients.insert(row.patient)
                XCTAssertEqual(image.groupName, "patient:\(row.patient)")
                expected[row.license.isEmpty ? SampleProject.unstated : row.license, default: 0] += 1
            }
            XCTAssertEqual(patients.count, 60, "one picture per patient")
            XCTAssertEqual(Set(images.map(\.sha256)).count, 60, "each picture once")
            let reported = Dictionary(uniqueKeysWithValues: (body["licences"] as! [[String: Any]]).map { ($0["license"] as! String, $0["count"] as! Int) })
            XCTAssertEqual(reported, expected)
            XCTAssertEqual(reported, Dictionary(uniqueKeysWithValues: offered.map { ($0["license"] as! String, $0["count"] as! Int) }),
                           "the licences shown before the import are those of the pictures imported")
        }
    }

    /// No local copy and a data URL nobody answers: the download fails within seconds with a
    /// message that says what to do, and nothing is created.
    func testUnreachableDataURLGivesAClearError() async throws {
        var settings = Fixture.settings(directory)
        settings.runSettings = LightboxSettings(home: directory.appendingPathComponent("home").path,
                                                dataURL: "http://127.0.0.1:9/covid-chestxray-dataset.zip")
        try await Application(router: try StudioAPI(settings: settings).router()).test(.router) { client in
            let before = try Fixture.decode(try await client.get("/api/sample-project")) as! [String: Any]
            XCTAssertEqual(before["available"] as? Bool, false)
            XCTAssertNil(before["licences"] as? [Any])
            let started = try await client.post("/api/sample-project", json: [String: Any]())
            XCTAssertEqual(started.status, .accepted, String(buffer: started.body))
            var status: [String: Any] = [:]
            let deadline = Date().addingTimeInterval(60)
            repeat {
                try await Task.sleep(nanoseconds: 200_000_000)
                status = try Fixture.decode(try await client.get("/api/sample-project")) as! [String: Any]
            } while status["downloading"] as? Bool == true && Date() < deadline
            XCTAssertEqual(status["downloading"] as? Bool, false, "the download did not end within 60 s")
            let error = status["error"] as? String ?? ""
            XCTAssertTrue(error.contains("could not get the sample data from http://127.0.0.1:9/covid-chestxray-dataset.zip"), error)
            XCTAssertTrue(error.contains("offline") && error.contains("--sample-data"), error)
            XCTAssertEqual(status["available"] as? Bool, false)
            let projects = try Fixture.decode(try await client.get("/api/projects")) as! [Any]
            XCTAssertTrue(projects.isEmpty)
        }
    }
}
