import Foundation
import Hummingbird
import HummingbirdTesting
import LightboxTestSupport
import XCTest
import LightboxImaging
import LightboxData
import LightboxCore
@testable import LightboxStudio
import LightboxWorkflows

/// The REST API through Hummingbird's test client (no sockets), on a fresh data directory.
final class StudioAPITests: XCTestCase {
    var directory: URL!

    override func setUpWithError() throws { directory = Fixture.newDirectory() }
    override func tearDownWithError() throws { try? FileManager.default.removeItem(at: directory) }

    func app(importRoots: [String] = [], maxUpload: Int = 32 << 20) throws -> some ApplicationProtocol {
        var settings = Fixture.settings(directory)
        settings.importRoots = importRoots
        settings.maxUploadBytes = maxUpload
        return Application(router: try StudioAPI(settings: settings).router())
    }

    /// A DICOM upload: accepted, grouped by its PatientID as a pseudonym (never the id), shown
    /// as a PNG, and no response carries the patient's id or name.
    func testDICOMUploadIsGroupedByPseudonymAndShownAsPNG() async throws {
        let fixtures = URL(fileURLWithPath: TestSettings.local.folder("test-data/dicom-fixtures"))
        guard let data = FileManager.default.contents(atPath: fixtures.appendingPathComponent("mono1_12bit_window.dcm").path) else {
            let message = "no DICOM fixtures at \(fixtures.path): scripts/test.sh makes them"
            if ProcessInfo.processInfo.environment["CI"] != nil { XCTFail(message) }
            throw XCTSkip(message)
        }
        var seen = ""
        try await app().test(.router) { client in
            _ = try await client.post("/api/projects", json: ["name": "hospital"])
            _ = try await client.post("/api/projects/1/classes", json: ["name": "other"])
            let up = try await client.upload("/api/projects/1/classes/1/images?filename=IM0001", ByteBuffer(bytes: data))
            XCTAssertEqual(up.status, .created, Fixture.error(up))
            seen += String(buffer: up.body)
            let thumb = try await client.get("/api/images/1")
            XCTAssertEqual(thumb.headers[.contentType], "image/png")
            let png = try ImageDecoder(maxPixels: LightboxSettings.defaultMaxPixels, dicomWindow: .first).decode(data: [UInt8](buffer: thumb.body), path: "thumbnail")
            XCTAssertEqual([png.width, png.height], [1024, 817])
            for path in ["/api/projects/1", "/api/projects/1/classes/1/images", "/api/projects"] {
                seen += String(buffer: try await client.get(path).body)
            }
        }
        let store = try StudioStore(directory: directory)
        let group = try XCTUnwrap(try store.images(projectId: 1).first?.groupName)
        let salt = try PatientPseudonyms.stored(in: directory.path)
        XCTAssertEqual(group, salt.pseudonym(for: "LBX-FAKE-0000"))
        for secret in ["LBX-FAKE", "Fake^Patient", "Fake Patient", "19700101"] {
            XCTAssertFalse(seen.contains(secret), "a response holds \(secret)")
        }
    }

    func testProjectsClassesAndUploads() async throws {
        let xrays = [try Fixture.xray("000001-2.jpg"), try Fixture.xray("00870a9c.jpg")]
        try await app().test(.router) { client in
            let created = try await client.post("/api/projects", json: ["name": "chest"])
            XCTAssertEqual(created.status, .created)
            XCTAssertEqual((try Fixture.decode(created) as? [String: Any])?["id"] as? Int, 1)
            let blank = try await client.post("/api/projects", json: ["name": " "])
            XCTAssertEqual(blank.status, .badRequest)
            XCTAssertFalse(Fixture.error(blank).isEmpty)
            let r1 = try await client.post("/api/projects/1/classes", json: ["name": "COVID-19"])
            XCTAssertEqual(r1.status, .created)
            let r2 = try await client.post("/api/projects/1/classes", json: ["name": "COVID-19"])
            XCTAssertEqual(r2.status, .conflict)
            for x in xrays {
                let r3 = try await client.upload("/api/projects/1/classes/1/images?filename=a.jpg", x)
                XCTAssertEqual(r3.status, .created)
            }
            // Not an image: refused after decoding, with the reason.
            let text = try await client.upload("/api/projects/1/classes/1/images?filename=../../etc/passwd", ByteBuffer(string: "root:x:0:0"))
            XCTAssertEqual(text.status, .badRequest)
            XCTAssertTrue(Fixture.error(text).contains("not a PNG or JPEG"), Fixture.error(text))
            let project = try Fixture.decode(try await client.get("/api/projects/1")) as! [String: Any]
            XCTAssertEqual((project["classes"] as! [[String: Any]])[0]["images"] as? Int, 2)
            let image = try await client.get("/api/images/1")
            XCTAssertEqual(image.headers[.contentType], "image/jpeg")
            XCTAssertEqual(image.body.readableBytes, xrays[0].readableBytes)
            let r4 = try await client.get("/api/projects/9")
            XCTAssertEqual(r4.status, .notFound)
            let doc = try Fixture.decode(try await client.get("/api/openapi.json")) as! [String: Any]
            XCTAssertEqual(doc["openapi"] as? String, "3.0.3")
            // Training needs two classes with images.
            let r5 = try await client.post("/api/projects/1/runs", json: [String: Any]())
            XCTAssertEqual(r5.status, .badRequest)
        }
        // Stored images are named by their hash only: nothing from the request reached the file system.
        let stored = try FileManager.default.subpathsOfDirectory(atPath: directory.appendingPathComponent("images").path)
        XCTAssertTrue(stored.allSatisfy { !$0.contains("passwd") && !$0.contains("a.jpg") })
    }

    /// Classes are renamed and deleted (with their images and files) by the API, with the same
    /// name rules as creating one, and only within their own project.
    func testRenameAndDeleteClasses() async throws {
        let xray = try Fixture.xray("000001-2.jpg")
        try await app().test(.router) { client in
            try await client.post("/api/projects", json: ["name": "a"])
            try await client.post("/api/projects", json: ["name": "b"])
            try await client.post("/api/projects/1/classes", json: ["name": "COVID-19"])
            try await client.post("/api/projects/1/classes", json: ["name": "Class 2"])
            try await client.post("/api/projects/2/classes", json: ["name": "other"])
            let response1 = try await client.upload("/api/projects/1/classes/2/images?filename=x.jpg", xray)
            XCTAssertEqual(response1.status, .created)

            let renamed = try await client.patch("/api/projects/1/classes/2", json: ["name": "  OTHER "])
            XCTAssertEqual(renamed.status, .ok)
            let body = try Fixture.decode(renamed) as! [String: Any]
            XCTAssertEqual(body["name"] as? String, "OTHER")
            XCTAssertEqual(body["images"] as? Int, 1)
            let response2 = try await client.patch("/api/projects/1/classes/2", json: ["name": "COVID-19"])
            XCTAssertEqual(response2.status, .conflict)
            let response3 = try await client.patch("/api/projects/1/classes/2", json: ["name": "a\u{202E}b"])
            XCTAssertEqual(response3.status, .badRequest)
            let response4 = try await client.patch("/api/projects/1/classes/3", json: ["name": "x"])
            XCTAssertEqual(response4.status, .notFound,
                           "class 3 belongs to project 2")
            let response5 = try await client.delete("/api/projects/1/classes/3")
            XCTAssertEqual(response5.status, .notFound)
            let project = try Fixture.decode(try await client.get("/api/projects/1")) as! [String: Any]
            XCTAssertEqual((project["classes"] as! [[String: Any]]).map { $0["name"] as? String }, ["COVID-19", "OTHER"])

            let stored = directory.appendingPathComponent("images")
            XCTAssertEqual(try FileManager.default.subpathsOfDirectory(atPath: stored.path).filter { $0.count > 3 }.count, 1)
            let response6 = try await client.delete("/api/projects/1/classes/2")
            XCTAssertEqual(response6.status, .noContent)
            let response7 = try await client.get("/api/images/1")
            XCTAssertEqual(response7.status, .notFound, "the class's images go with it")
            let response8 = try await client.get("/api/projects/1/classes/2/images")
            XCTAssertEqual(response8.status, .notFound)
            XCTAssertEqual(try FileManager.default.subpathsOfDirectory(atPath: stored.path).count, 0, "and their files")
            let after = try Fixture.decode(try await client.get("/api/projects/1")) as! [String: Any]
            XCTAssertEqual((after["classes"] as! [[String: Any]]).map { $0["name"] as? String }, ["COVID-19"])
        }
    }

    /// "Sick" and "sick" are one class (issue 26, item 12): names are compared after Unicode
    /// normalisation, without regard to letter case, when a class is added or renamed; and a
    /// run with an empty class is refused, naming it, instead of training without it.
    func testClassNamesAreComparedWithoutCaseAndAnEmptyClassIsRefused() async throws {
        let xray = try Fixture.xray("000001-2.jpg"), other = try Fixture.xray("00870a9c.jpg")
        try await app().test(.router) { client in
            try await client.post("/api/projects", json: ["name": "p"])
            let r1 = try await client.post("/api/projects/1/classes", json: ["name": "Sick"])
            XCTAssertEqual(r1.status, .created)
            let lower = try await client.post("/api/projects/1/classes", json: ["name": "sick"])
            XCTAssertEqual(lower.status, .conflict)
            XCTAssertTrue(Fixture.error(lower).contains("'Sick'"), Fixture.error(lower))
            let r2 = try await client.post("/api/projects/1/classes", json: ["name": "Caf\u{E9}"])
            XCTAssertEqual(r2.status, .created)
            let decomposed = try await client.post("/api/projects/1/classes", json: ["name": "CAFE\u{301}"])
            XCTAssertEqual(decomposed.status, .conflict, "an accent typed as a second character is the same name")
            let r3 = try await client.post("/api/projects/1/classes", json: ["name": "healthy"])
            XCTAssertEqual(r3.status, .created)
            let renamed = try await client.patch("/api/projects/1/classes/3", json: ["name": "SICK"])
            XCTAssertEqual(renamed.status, .conflict)
            let r4 = try await client.patch("/api/projects/1/classes/1", json: ["name": "SICK"])
            XCTAssertEqual(r4.status, .ok,
                           "a class may change its own name's case")
            let r5 = try await client.upload("/api/projects/1/classes/1/images?filename=a.jpg", xray)
            XCTAssertEqual(r5.status, .created)
            let r6 = try await client.upload("/api/projects/1/classes/3/images?filename=b.jpg", other)
            XCTAssertEqual(r6.status, .created)
            let run = try await client.post("/api/projects/1/runs", json: [String: Any]())
            XCTAssertEqual(run.status, .badRequest)
            XCTAssertTrue(Fixture.error(run).contains("class 'Café' has no pictures"), Fixture.error(run))
            let project = try Fixture.decode(try await client.get("/api/projects/1")) as! [String: Any]
            XCTAssertEqual((project["classes"] as! [[String: Any]]).map { $0["name"] as? String }, ["SICK", "Café", "healthy"])
        }
    }

    /// What would make a run meaningless is said before it starts: a picture in two classes
    /// (training leaves every copy out) at upload, too few images per class at Train, and the
    /// option errors in the page's words, not the command line's flags.
    func testWhatSpoilsARunIsSaidUpFront() async throws {
        let xray = try Fixture.xray("000001-2.jpg")
        try await app().test(.router) { client in
            try await client.post("/api/projects", json: ["name": "p"])
            try await client.post("/api/projects/1/classes", json: ["name": "A"])
            try await client.post("/api/projects/1/classes", json: ["name": "B"])
            let first = try Fixture.decode(try await client.upload("/api/projects/1/classes/1/images?filename=a.jpg", xray)) as! [String: Any]
            XCTAssertEqual(first["alsoIn"] as? [String], [])
            let second = try Fixture.decode(try await client.upload("/api/projects/1/classes/2/images?filename=b.jpg", xray)) as! [String: Any]
            XCTAssertEqual(second["alsoIn"] as? [String], ["A"])
            let listed = try Fixture.decode(try await client.get("/api/projects/1/classes/1/images")) as! [[String: Any]]
            XCTAssertEqual(listed.first?["alsoIn"] as? [String], ["B"])

            let few = try await client.post("/api/projects/1/runs", json: ["epochs": 2])
            XCTAssertEqual(few.status, .badRequest)
            XCTAssertTrue(Fixture.error(few).contains("at least \(RunManager.minimumImagesPerClass) images"), Fixture.error(few))
            let split = try await client.post("/api/projects/1/runs", json: ["split": "90/5"])
            XCTAssertEqual(split.status, .badRequest)
            XCTAssertTrue(Fixture.error(split).hasPrefix("split must be"), Fixture.error(split))
            XCTAssertFalse(Fixture.error(split).contains("--"), "the page's words, not the CLI's flags: \(Fixture.error(split))")
            // The design is the Studio's: a request may neither choose it nor set a test share.
            let folds = try await client.post("/api/projects/1/runs", json: ["folds": 1])
            XCTAssertEqual(folds.status, .badRequest)
            XCTAssertTrue(Fixture.error(folds).hasPrefix("folds is chosen by the Studio"), Fixture.error(folds))
            let testSplit = try await client.post("/api/projects/1/runs", json: ["testSplit": 20])
            XCTAssertEqual(testSplit.status, .badRequest)
            XCTAssertTrue(Fixture.error(testSplit).hasPrefix("testSplit is for lightbox train"), Fixture.error(testSplit))
            let runs = try Fixture.decode(try await client.get("/api/projects/1/runs")) as! [Any]
            XCTAssertTrue(runs.isEmpty, "nothing was stored")
        }
    }

    /// The design follows the project's patients (`StudioDesign`): fewer folds for a class with
    /// few patients, one split for a class with one, and a single split that would leave no
    /// patient to test on is refused before anything is stored.
    func testDesignFollowsThePatients() async throws {
        let folder = Fixture.newDirectory()
        try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: folder) }
        // Two data sets of the same pictures: class A's 10 pictures of 3 patients or of 1, class
        // B's 11 of 11 patients or of 1.
        var three = "path,label,group\n", one = "path,label,group\n"
        for (k, cls) in [(1, "A"), (2, "B")] {
            for i in 0..<(cls == "A" ? 10 : 11) {
                let name = "\(cls)\(i).png"
                try FileManager.default.copyItem(at: Fixture.trainingImages.appendingPathComponent("Class \(k)/\(i).png"),
                                                  to: folder.appendingPathComponent(name))
                three += "\(name),\(cls),\(cls == "A" ? "a\(i % 3)" : "b\(i)")\n"
                one += "\(name),\(cls),\(cls == "A" ? "a" : "b")\n"
            }
        }
        try Data(three.utf8).write(to: folder.appendingPathComponent("three.csv"))
        try Data(one.utf8).write(to: folder.appendingPathComponent("one.csv"))
        try await app(importRoots: [folder.path]).test(.router) { client in
            for (project, list) in [(1, "three.csv"), (2, "one.csv")] {
                try await client.post("/api/projects", json: ["name": list])
                let imported = try await client.post("/api/projects/\(project)/import", json: ["path": list, "source": "csv"])
                XCTAssertEqual(imported.status, .ok, String(buffer: imported.body))
            }
            let three = try Fixture.decode(try await client.get("/api/projects/1")) as! [String: Any]
            XCTAssertEqual(design(three), Design(folds: 3, reason: "3 folds rather than 5: class 'A' has only 3 patients, and every fold needs a patient of each class"))
            let one = try Fixture.decode(try await client.get("/api/projects/2")) as! [String: Any]
            XCTAssertEqual(design(one), Design(folds: 1, reason: "one split: class 'A' has only 1 patient, too few to cross-fit (every fold needs a patient of each class)"))
            // One patient a class: one split has no patient left to test on.
            let refused = try await client.post("/api/projects/2/runs", json: ["epochs": 2])
            XCTAssertEqual(refused.status, .badRequest)
            XCTAssertTrue(Fixture.error(refused).hasPrefix("too few patients to train and test: one split: class 'A' has only 1 patient"), Fixture.error(refused))
            XCTAssertTrue(Fixture.error(refused).contains("leave the test part of the split empty"), Fixture.error(refused))
            // A cross-fitted project has no split to set; with one split the split is the run's.
            let split = try await client.post("/api/projects/1/runs", json: ["split": "60/20/20"])
            XCTAssertEqual(split.status, .badRequest)
            XCTAssertTrue(Fixture.error(split).hasPrefix("split is for a project with one split; this one is cross-fitted (3 folds"), Fixture.error(split))
            let stopping = try await client.post("/api/projects/1/runs", json: ["earlyStopping": 3])
            XCTAssertEqual(stopping.status, .badRequest)
            XCTAssertTrue(Fixture.error(stopping).hasPrefix("earlyStopping needs a validation split"), Fixture.error(stopping))
            let stored = try Fixture.decode(try await client.get("/api/projects/1/runs")) as! [Any]
            XCTAssertTrue(stored.isEmpty, "nothing was stored")
            // The options' rules say the design is not a request's to set.
            let rules = try Fixture.decode(try await client.get("/api/options")) as! [[String: Any]]
            let commandLineOnly = Dictionary(uniqueKeysWithValues: rules.map { ($0["key"] as! String, $0["commandLineOnly"] as? Bool) })
            XCTAssertEqual(commandLineOnly["folds"], true)
            XCTAssertEqual(commandLineOnly["testSplit"], true)
            XCTAssertEqual(commandLineOnly["epochs"], false)
        }
    }

    func testUploadLimit() async throws {
        try await app(maxUpload: 1000).test(.router) { client in
            try await client.post("/api/projects", json: ["name": "p"])
            try await client.post("/api/projects/1/classes", json: ["name": "c"])
            let r6 = try await client.upload("/api/projects/1/classes/1/images", try Fixture.xray("000001-2.jpg"))
            XCTAssertEqual(r6.status, .contentTooLarge)
        }
    }

    func testImportIsLimitedToAllowedFolders() async throws {
        try await app(importRoots: [Fixture.shared.appendingPathComponent("models").path]).test(.router) { client in
            try await client.post("/api/projects", json: ["name": "p"])
            let outside = try await client.post("/api/projects/1/import",
                                                json: ["path": Fixture.shared.appendingPathComponent("models/../data/covid-chestxray").path])
            XCTAssertEqual(outside.status, .forbidden)
            let roots = try Fixture.decode(try await client.get("/api/import/roots")) as! [String: Any]
            XCTAssertEqual(roots["roots"] as? [String], [Fixture.shared.appendingPathComponent("models").path])
            // A path relative to the root, previewed first: classes and counts, nothing stored.
            let relative = "teachable-machine-image/training-images"
            let preview = try Fixture.decode(try await client.post("/api/projects/1/import", json: ["path": relative, "dryRun": true])) as! [String: Any]
            XCTAssertEqual(preview["dryRun"] as? Bool, true)
            XCTAssertEqual(preview["perClass"] as? [String: Int], ["Class 1": 11, "Class 2": 11])
            let untouched = try Fixture.decode(try await client.get("/api/projects/1")) as! [String: Any]
            XCTAssertEqual((untouched["classes"] as! [Any]).count, 0, "a preview stores nothing")
            let escape = try await client.post("/api/projects/1/import", json: ["path": "../data/covid-chestxray", "dryRun": true])
            XCTAssertEqual(escape.status, .forbidden, "a relative path stays under its root")
            let noRoot = try await client.post("/api/projects/1/import", json: ["path": relative, "root": 1])
            XCTAssertEqual(noRoot.status, .badRequest)
            let r = try await client.post("/api/projects/1/import", json: ["path": relative])
            XCTAssertEqual(r.status, .ok)
            let d = try Fixture.decode(r) as! [String: Any]
            XCTAssertEqual(d["imported"] as? Int, 22)
            XCTAssertEqual(d["classes"] as? Int, 2)
            XCTAssertEqual(d["perClass"] as? [String: Int], ["Class 1": 11, "Class 2": 11])
            XCTAssertEqual(d["dryRun"] as? Bool, false)
            XCTAssertFalse((d["skipped"] as! [[String: String]]).isEmpty, ".DS_Store files are reported")
        }
    }

    /// Training in the background: a second run is refused while one runs; the finished run has
    /// metrics, predictions and a working predict endpoint.
    func testTrainingRunAndPrediction() async throws {
        let folders = Fixture.trainingImages.path
        try await app(importRoots: [folders]).test(.router) { client in
            try await client.post("/api/projects", json: ["name": "p"])
            try await client.post("/api/projects/1/import", json: ["path": folders])
            // 11 pictures a class, no patient ids: 11 patients each, 5 folds.
            let project = try Fixture.decode(try await client.get("/api/projects/1")) as! [String: Any]
            XCTAssertEqual(design(project), Design(folds: 5, reason: "5 folds: every class has at least 10 patients"))
            let r7 = try await client.post("/api/projects/1/runs", json: ["epochs": 5])
            XCTAssertEqual(r7.status, .accepted)
            let r8 = try await client.post("/api/projects/1/runs", json: ["epochs": 5])
            XCTAssertEqual(r8.status, .conflict)
            // A run reads the classes' names and images: neither changes under it.
            let response9 = try await client.patch("/api/projects/1/classes/1", json: ["name": "renamed"])
            XCTAssertEqual(response9.status, .conflict)
            let response10 = try await client.delete("/api/projects/1/classes/1")
            XCTAssertEqual(response10.status, .conflict)
            let run = try await client.waitForRun(1)
            // The run history: each run with its options and headline numbers, and what to read
            // them against.
            let history = try Fixture.decode(try await client.get("/api/projects/1/runs")) as! [[String: Any]]
            XCTAssertEqual(history.count, 1)
            XCTAssertEqual(history[0]["status"] as? String, "finished")
            XCTAssertEqual((history[0]["options"] as? [String: Any])?["epochs"] as? Int, 5)
            XCTAssertEqual((history[0]["options"] as? [String: Any])?["folds"] as? Int, 5, "the run's options record its design")
            let headline = try XCTUnwrap(history[0]["headline"] as? [String: Any])
            XCTAssertEqual(headline["folds"] as? Int, 5)
            XCTAssertEqual(headline["evaluation"] as? String, "out-of-fold")
            let runMetrics = run["metrics"] as! [String: Any]
            XCTAssertEqual(headline["accuracy"] as? Double, runMetrics["accuracy"] as? Double)
            let confusion = runMetrics["confusion"] as! [[Int]]
            let perClass = confusion.map { $0.reduce(0, +) }
            XCTAssertEqual(headline["majorityBaseline"] as! Double, Double(perClass.max()!) / Double(perClass.reduce(0, +)), accuracy: 1e-12)
            // One wording: the run page's headline (metrics.json's) is the history's and the one
            // the run's report.html renders in its top box.
            let worded = try XCTUnwrap(runMetrics["headline"] as? [String: Any])
            // The history's AUC interval is the headline's (none when it would understate: below
            // five patients in a class, or a bootstrap of no width), and so is its chance flag.
            let aucFigure = (worded["figures"] as? [[String: Any]])?.first { $0["key"] as? String == "auc" }
            if let ci = aucFigure?["interval"] as? [Double] {
                XCTAssertEqual(headline["noBetterThanChance"] as? Bool, ci[0] <= 0.5 && 0.5 <= ci[1])
            } else {
                XCTAssertNil(headline["aucCI"])
                XCTAssertNil(headline["noBetterThanChance"])
            }
            XCTAssertEqual(NSDictionary(dictionary: worded), NSDictionary(dictionary: try XCTUnwrap(headline["headline"] as? [String: Any])))
            let runReport = RunHeadlineWordingTests.unescaped(String(buffer: try await client.get("/api/runs/1/report").body))
            let box = try XCTUnwrap(runReport.range(of: "<section class='headline'").map { String(runReport[$0.lowerBound...]) })
            for note in try XCTUnwrap(worded["notes"] as? [[String: Any]]) {
                XCTAssertTrue(box.contains(note["text"] as! String), "report lacks: \(note["text"]!)")
            }
            for figure in try XCTUnwrap(worded["figures"] as? [[String: Any]]) {
                XCTAssertTrue(box.contains((figure["interval_text"] ?? figure["no_interval"]) as! String), "\(figure)")
            }
            XCTAssertTrue(box.contains(try XCTUnwrap((worded["shortcut"] as? [String: Any])?["verdict"] as? String)))
            let response11 = try await client.get("/api/projects/9/runs")
            XCTAssertEqual(response11.status, .notFound)
            XCTAssertEqual(run["status"] as? String, "finished")
            let metrics = run["metrics"] as! [String: Any]
            XCTAssertEqual((metrics["epochs"] as! [Any]).count, 5)
            XCTAssertNotNil(metrics["confusion"])
            // Cross-fitted: every picture scored out of fold; 11 patients a class are too few for
            // an operating point, and the run says why.
            XCTAssertEqual(metrics["folds"] as? Int, 5)
            XCTAssertEqual(metrics["evaluation"] as? String, "out-of-fold")
            XCTAssertEqual(metrics["n_images"] as? Int, 22)
            XCTAssertEqual((metrics["fold_auc"] as? [Any])?.count, 5)
            XCTAssertEqual(metrics["threshold"] as? Double, 0.5, "argmax")
            XCTAssertTrue((metrics["operating_point_note"] as? String ?? "").contains("at least 20"), "\(metrics["operating_point_note"] ?? "none")")
            // The confusion cells' pictures: every scored picture, each with its fold, each a stored image.
            let rows = try Fixture.decode(try await client.get("/api/runs/1/predictions")) as! [[String: Any]]
            XCTAssertEqual(rows.count, 22)
            XCTAssertTrue(rows.allSatisfy { $0["imageId"] is Int }, "each scored row points at a stored image")
            XCTAssertEqual(Set(rows.map { $0["imageId"] as! Int }).count, 22)
            XCTAssertEqual(Set(rows.compactMap { $0["fold"] as? Int }), [1, 2, 3, 4, 5])
            let cells = (metrics["confusion"] as! [[Int]]).flatMap { $0 }
            XCTAssertEqual(cells.reduce(0, +), rows.count, "the confusion matrix counts the rows its cells open")
            let image = try Data(contentsOf: Fixture.trainingImages.appendingPathComponent("Class 2/3.png"))
            let p = try await client.upload("/api/runs/1/predict", ByteBuffer(bytes: image))
            XCTAssertEqual(p.status, .ok)
            let prediction = try Fixture.decode(p) as! [String: Any]
            XCTAssertEqual((prediction["probabilities"] as! [String: Double]).values.reduce(0, +), 1, accuracy: 1e-4)
            // No operating point: no threshold in the answer, which is the most probable class.
            XCTAssertNil(prediction["threshold"])
            XCTAssertNil(prediction["positiveClass"])
            let probabilities = prediction["probabilities"] as! [String: Double]
            XCTAssertEqual(prediction["predicted"] as? String, probabilities.max { $0.value < $1.value }?.key)
            XCTAssertTrue((prediction["heatmap"] as! String).hasPrefix("data:image/png;base64,"))
            // The report names the project and each picture as uploaded: no content hashes as
            // captions, no path into the data directory.
            let report = String(decoding: Data(try await client.get("/api/runs/1/report").body.readableBytesView), as: UTF8.self)
            XCTAssertTrue(report.contains("Lightbox Studio project &#39;p&#39;") || report.contains("Lightbox Studio project 'p'"),
                          "the data set is named as the project")
            XCTAssertFalse(report.contains(directory.path), "no path into the data directory")
            let captions = report.components(separatedBy: "<figcaption>").dropFirst().map { $0.components(separatedBy: "</figcaption>")[0] }
            XCTAssertFalse(captions.isEmpty)
            for caption in captions {
                XCTAssertNil(caption.range(of: "[0-9a-f]{64}", options: .regularExpression), caption)
                XCTAssertTrue(caption.hasSuffix(".png"), caption)
            }
            let heatmap = try await client.get("/api/runs/1/heatmap/1")
            XCTAssertEqual(heatmap.status, .ok)
            XCTAssertEqual(Array(Data(heatmap.body.readableBytesView).prefix(4)), [0x89, 0x50, 0x4E, 0x47])
            let onnx = try await client.get("/api/runs/1/download/onnx")
            XCTAssertEqual(onnx.status, .ok)
            XCTAssertGreaterThan(onnx.body.readableBytes, 1_000_000)
            XCTAssertEqual(onnx.headers[.contentDisposition], "attachment; filename=\"lightbox-run-1.onnx\"")
            let keras = try await client.get("/api/runs/1/download/keras")
            XCTAssertEqual(keras.status, .ok)
            XCTAssertEqual(keras.headers[.contentDisposition], "attachment; filename=\"lightbox-run-1-keras.zip\"")
            XCTAssertEqual(Array(Data(keras.body.readableBytesView).prefix(2)), [0x50, 0x4B], "a zip")
            // The bundle download is what `lightbox predict --model` takes, zip and all, with the
            // same answers as the Studio's own prediction.
            let bundle = try await client.get("/api/runs/1/download/bundle")
            XCTAssertEqual(bundle.status, .ok)
            XCTAssertEqual(bundle.headers[.contentDisposition], "attachment; filename=\"lightbox-run-1-model.zip\"")
            let zip = FileManager.default.temporaryDirectory.appendingPathComponent("lightbox-run-1-model-\(UUID().uuidString).zip")
            defer { try? FileManager.default.removeItem(at: zip) }
            try Data(bundle.body.readableBytesView).write(to: zip)
            let picture = Fixture.trainingImages.appendingPathComponent("Class 2/3.png").path
            let predictor = try Predictor(model: zip.path, settings: TestSettings.local)
            let fromZip = try XCTUnwrap(predictor.predict([picture]).first).get()
            let studio = prediction["probabilities"] as! [String: Double]
            for (c, name) in predictor.classes.enumerated() {
                XCTAssertEqual(Double(fromZip.probabilities[c]), studio[name]!, accuracy: 1e-6, name)
            }
        }
    }

    /// A picture uploaded to two classes is left out of training, as the upload's answer says:
    /// no row of the run's scored pictures is one of its copies.
    func testAPictureInTwoClassesIsLeftOut() async throws {
        try await app().test(.router) { client in
            try await client.post("/api/projects", json: ["name": "p"])
            for (k, name) in ["A", "B"].enumerated() {
                try await client.post("/api/projects/1/classes", json: ["name": name])
                for i in 0..<10 {
                    let r = try await client.upload("/api/projects/1/classes/\(k + 1)/images?filename=\(i).png",
                                                    try Fixture.file("models/teachable-machine-image/training-images/Class \(k + 1)/\(i).png"))
                    XCTAssertEqual(r.status, .created)
                }
            }
            let twin = try Fixture.file("models/teachable-machine-image/training-images/Class 1/10.png")
            let copies = [try await client.upload("/api/projects/1/classes/1/images?filename=twin.png", twin),
                          try await client.upload("/api/projects/1/classes/2/images?filename=twin.png", twin)]
            let ids = try copies.map { (try Fixture.decode($0) as! [String: Any])["id"] as! Int }
            let started = try await client.post("/api/projects/1/runs", json: ["epochs": 2])
            XCTAssertEqual(started.status, .accepted, String(buffer: started.body))
            let run = try await client.waitForRun(1)
            XCTAssertEqual(run["status"] as? String, "finished", "\(run["error"] ?? "")")
            XCTAssertEqual((run["metrics"] as? [String: Any])?["n_images"] as? Int, 20)
            let notes = (run["progress"] as? [String: Any])?["notes"] as? [String] ?? []
            XCTAssertTrue(notes.contains("left out 2 picture(s) held by more than one class"), "\(notes)")
            let rows = try Fixture.decode(try await client.get("/api/runs/1/predictions")) as! [[String: Any]]
            XCTAssertEqual(rows.count, 20)
            XCTAssertTrue(rows.allSatisfy { !ids.contains($0["imageId"] as! Int) }, "neither copy was trained on or scored")
        }
    }

    /// A project with 20 patients of each side or more gets an operating point on its
    /// out-of-fold predictions; a prediction then carries it, and its answer is the one the
    /// threshold gives (whatever the larger probability), so the page can show the rule beside
    /// the bars. A confusion cell's picture is explained by its fold's model, which gives exactly
    /// the out-of-fold answer the run recorded for it.
    func testPredictionCarriesTheOperatingPoint() async throws {
        let xrays = Fixture.shared.appendingPathComponent("data/covid-chestxray/images")
        let pictures = try FileManager.default.contentsOfDirectory(atPath: xrays.path).filter { $0.hasSuffix(".jpg") || $0.hasSuffix(".png") }.sorted()
        let studio = try StudioAPI(settings: Fixture.settings(directory))
        try await Application(router: studio.router()).test(.router) { client in
            try await client.post("/api/projects", json: ["name": "p"])
            try await client.post("/api/projects/1/classes", json: ["name": "COVID-19"])
            try await client.post("/api/projects/1/classes", json: ["name": "other"])
            for name in pictures.prefix(24) {
                let r = try await client.upload("/api/projects/1/classes/1/images?filename=\(name)", try Fixture.xray(name))
                XCTAssertEqual(r.status, .created, name)
            }
            for k in 1...2 {
                for i in 0..<11 {
                    let r = try await client.upload("/api/projects/1/classes/2/images?filename=\(k)-\(i).png",
                                                    try Fixture.file("models/teachable-machine-image/training-images/Class \(k)/\(i).png"))
                    XCTAssertEqual(r.status, .created)
                }
            }
            let started = try await client.post("/api/projects/1/runs", json: ["epochs": 5])
            XCTAssertEqual(started.status, .accepted, String(buffer: started.body))
            let run = try await client.waitForRun(1)
            XCTAssertEqual(run["status"] as? String, "finished", "\(run["error"] ?? "")")
            let metrics = try XCTUnwrap(run["metrics"] as? [String: Any])
            XCTAssertEqual(metrics["evaluation"] as? String, "out-of-fold")
            XCTAssertGreaterThanOrEqual(metrics["n_patients"] as? Int ?? 0, 40, "every picture scored, each its own patient")
            let threshold = try XCTUnwrap(metrics["threshold"] as? Double, "24 and 22 patients: an operating point")
            XCTAssertNil(metrics["operating_point_note"])
            XCTAssertEqual(metrics["positive_class"] as? String, "COVID-19")
            for (file, body) in [("an X-ray", try Fixture.xray(pictures[30])),
                                 ("a photograph", try Fixture.file("models/teachable-machine-image/training-images/Class 1/0.png"))] {
                let prediction = try Fixture.decode(try await client.upload("/api/runs/1/predict", body)) as! [String: Any]
                XCTAssertEqual(prediction["threshold"] as? Double, threshold, file)
                XCTAssertEqual(prediction["positiveClass"] as? String, "COVID-19", file)
                let p = try XCTUnwrap((prediction["probabilities"] as? [String: Double])?["COVID-19"])
                XCTAssertEqual(prediction["predicted"] as? String, p >= threshold ? "COVID-19" : "other", "\(file): \(p) against \(threshold)")
            }
            // Each fold's model (the bundle keeps the members fold by fold) gives its pictures the
            // out-of-fold probabilities and answers of predictions.csv.
            let rows = try Fixture.decode(try await client.get("/api/runs/1/predictions")) as! [[String: Any]]
            let firstOfEachFold = Dictionary(rows.map { ($0["fold"] as! Int, $0) }, uniquingKeysWith: { a, _ in a })
            XCTAssertEqual(Set(firstOfEachFold.keys), [1, 2, 3, 4, 5])
            for (fold, row) in firstOfEachFold {
                let predictor = try XCTUnwrap(try studio.runs.predictor(run: 1, fold: fold))
                let image = try studio.store.image(Int64(row["imageId"] as! Int))
                let p = try XCTUnwrap(try predictor.predict([studio.store.imagePath(image).path]).first).get()
                let recorded = row["probabilities"] as! [String: Double]
                for (c, name) in predictor.classes.enumerated() {
                    XCTAssertEqual(Double(p.probabilities[c]), recorded[name]!, accuracy: 1e-4, "fold \(fold), \(name)")
                }
                XCTAssertEqual(predictor.classes[p.predicted], row["predicted"] as? String, "fold \(fold)")
                let whole = try studio.runs.predictor(run: 1)
                XCTAssertEqual(predictor.model.members.count * 5, whole.model.members.count)
                let heatmap = try await client.get("/api/runs/1/heatmap/\(image.id!)")
                XCTAssertEqual(Array(Data(heatmap.body.readableBytesView).prefix(4)), [0x89, 0x50, 0x4E, 0x47])
            }
            XCTAssertNil(try studio.runs.predictor(run: 1, fold: 6))
        }
    }

    /// Real response bodies, their keys spelled out: the page, the e2e test and the OpenAPI
    /// document read them, so a renamed key, or an absent optional written as null, fails here.
    func testResponseBodiesKeepTheirKeys() async throws {
        let folders = Fixture.trainingImages.path
        try await app(importRoots: [folders]).test(.router) { client in
            try await client.post("/api/projects", json: ["name": "p"])
            let projects = try Fixture.decode(try await client.get("/api/projects")) as! [[String: Any]]
            XCTAssertEqual(Set(projects[0].keys), ["id", "name", "created"])
            XCTAssertNotNil((projects[0]["created"] as! String).range(of: #"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$"#, options: .regularExpression))
            let imported = try Fixture.decode(try await client.post("/api/projects/1/import", json: ["path": folders])) as! [String: Any]
            XCTAssertEqual(Set(imported.keys), ["imported", "classes", "perClass", "skipped", "dryRun"])
            XCTAssertEqual(keys((imported["skipped"] as! [Any]).first), ["item", "reason"])
            let project = try Fixture.decode(try await client.get("/api/projects/1")) as! [String: Any]
            XCTAssertEqual(Set(project.keys), ["project", "classes", "runs", "design"])
            XCTAssertEqual(keys(project["design"]), ["folds", "reason"])
            XCTAssertEqual(keys(project["project"]), ["id", "name", "created"])
            XCTAssertEqual(keys((project["classes"] as! [Any]).first), ["id", "name", "images"])
            let images = try Fixture.decode(try await client.get("/api/projects/1/classes/1/images")) as! [Any]
            XCTAssertEqual(keys(images.first), ["id", "classId", "filename", "width", "height", "alsoIn"])

            let started = try Fixture.decode(try await client.post("/api/projects/1/runs", json: ["epochs": 2]))
            XCTAssertEqual(keys(started), ["id", "projectId", "status", "created", "options", "progress"], "no finished, error or metrics: absent, not null")
            let run = try await client.waitForRun(1)
            XCTAssertEqual(Set(run.keys), ["id", "projectId", "status", "created", "finished", "options", "progress", "metrics"])
            XCTAssertEqual(run["status"] as? String, "finished")
            XCTAssertTrue(run["id"] is Int && run["projectId"] is Int)
            XCTAssertEqual(keys(run["options"]), ["epochs", "folds"])
            let progress = run["progress"] as! [String: Any]
            XCTAssertEqual(Set(progress.keys), ["stage", "done", "total", "epochs", "totalEpochs", "notes"])
            // Cross-fitted: the first fold's model's curves, without a validation split.
            XCTAssertEqual(keys((progress["epochs"] as! [Any]).first), ["epoch", "train_loss", "train_accuracy"])
            XCTAssertTrue(keys(run["metrics"]).isSuperset(of: ["accuracy", "classes", "confusion", "per_class", "n_images", "n_patients", "epochs"]))

            let rows = try Fixture.decode(try await client.get("/api/runs/1/predictions")) as! [Any]
            XCTAssertEqual(keys(rows.first), ["imageId", "label", "predicted", "probabilities", "fold"])
            let image = try Data(contentsOf: Fixture.trainingImages.appendingPathComponent("Class 1/0.png"))
            let prediction = try Fixture.decode(try await client.upload("/api/runs/1/predict", ByteBuffer(bytes: image))) as! [String: Any]
            XCTAssertEqual(Set(prediction.keys), ["predicted", "probabilities", "heatmap", "disclaimer", "lungs"])
            XCTAssertEqual(keys(prediction["lungs"]), ["square", "box", "width", "height"])
            XCTAssertEqual(Set((prediction["probabilities"] as! [String: Double]).keys), ["Class 1", "Class 2"])
            let missing = try await client.get("/api/projects/9")
            XCTAssertEqual(keys(try Fixture.decode(missing)), ["error"])

            // The OpenAPI document describes these bodies with the same keys.
            let doc = try Fixture.decode(try await client.get("/api/openapi.json")) as! [String: Any]
            let schemas = (doc["components"] as! [String: Any])["schemas"] as! [String: Any]
            let properties = { (name: String) in keys((schemas[name] as! [String: Any])["properties"]) }
            XCTAssertEqual(properties("Project"), ["id", "name", "created"])
            XCTAssertEqual(properties("Class"), ["id", "name", "images"])
            XCTAssertEqual(properties("Image"), ["id", "classId", "filename", "width", "height", "alsoIn"])
            XCTAssertEqual(properties("Error"), ["error"])
            XCTAssertTrue(properties("Run").subtracting(["error"]).isSubset(of: run.keys), "\(properties("Run"))")
            XCTAssertEqual(properties("ProjectDetail"), Set(project.keys))
            XCTAssertEqual(properties("Design"), keys(project["design"]))
            XCTAssertEqual(properties("ScoredPrediction"), keys(rows.first))
            XCTAssertEqual(properties("Prediction"), Set(prediction.keys).union(["threshold", "positiveClass"]))
            XCTAssertTrue(keys(run["options"]).isSubset(of: properties("RunOptions")))
            let summary = try Fixture.decode(try await client.get("/api/projects/1/runs")) as! [[String: Any]]
            XCTAssertTrue(keys(summary.first?["headline"]).isSubset(of: properties("RunHeadline")), "\(keys(summary.first?["headline"]))")
            XCTAssertTrue(keys((run["metrics"] as? [String: Any])?["headline"]).isSubset(of: properties("Headline")))
        }
    }

    /// `method: finetune` trains a fine-tuned ensemble from the Studio: its metrics carry the
    /// method, the operating point and the shortcut audit, predictions work, and head-only
    /// options are refused with the CLI's message.
    func testFineTuneRunFromTheStudio() async throws {
        let folders = Fixture.trainingImages.path
        try await app(importRoots: [folders]).test(.router) { client in
            try await client.post("/api/projects", json: ["name": "p"])
            _ = try await client.post("/api/projects/1/import", json: ["path": folders])
            let refused = try await client.post("/api/projects/1/runs", json: ["method": "finetune", "learningRate": 0.01])
            XCTAssertEqual(refused.status, .badRequest)
            XCTAssertTrue(String(buffer: refused.body).contains("--learning-rate is for --method head"), String(buffer: refused.body))
            let started = try await client.post("/api/projects/1/runs", json: ["method": "finetune", "ensemble": 1, "epochs": 1,
                                                                               "equalize": "clahe"])
            XCTAssertEqual(started.status, .accepted, String(buffer: started.body))
            let run = try await client.waitForRun(1)
            XCTAssertEqual(run["status"] as? String, "finished", "\(run)")
            let metrics = try XCTUnwrap(run["metrics"] as? [String: Any])
            XCTAssertEqual(metrics["method"] as? String, "finetune")
            // Cross-fitted: one member per fold, five in all; too few patients for an operating point.
            XCTAssertEqual(metrics["folds"] as? Int, 5)
            XCTAssertEqual(metrics["ensemble"] as? Int, 5)
            XCTAssertEqual(metrics["threshold"] as? Double, 0.5, "argmax")
            XCTAssertNotNil(metrics["operating_point_note"] as? String)
            XCTAssertNotNil((metrics["audit"] as? [String: Any])?["verdict"] as? String)
            let image = try Data(contentsOf: Fixture.trainingImages.appendingPathComponent("Class 1/0.png"))
            let prediction = try await client.upload("/api/runs/1/predict", ByteBuffer(bytes: image))
            XCTAssertEqual(prediction.status, .ok, String(buffer: prediction.body))
        }
    }

    func testRestartMarksInterruptedRuns() throws {
        let store = try StudioStore(directory: directory)
        let project = try store.createProject(name: "p")
        let run = try store.createRun(projectId: project.id!, options: "{}")
        try store.updateRun(run.id!) { $0.status = .running }
        // A new server on the same data directory: the run was cut off, and says so.
        _ = try StudioAPI(settings: Fixture.settings(directory))
        let after = try StudioStore(directory: directory).run(run.id!)
        XCTAssertEqual(after.status, .interrupted)
        XCTAssertNotNil(after.error)
        XCTAssertEqual(try StudioStore(directory: directory).projects().count, 1, "nothing stored is lost")
    }

    func testUnwritableDataDirectoryIsAnError() throws {
        let file = directory.appendingPathExtension("file")
        try Data("x".utf8).write(to: file)
        defer { try? FileManager.default.removeItem(at: file) }
        XCTAssertThrowsError(try StudioStore(directory: file)) { XCTAssertTrue("\($0)".contains(file.path), "\($0)") }
    }
}

/// A project response's `design`, as decoded JSON gives it.
private struct Design: Equatable {
    var folds: Int?
    var reason: String?
}

private func design(_ project: [String: Any]) -> Design {
    let d = project["design"] as? [String: Any]
    return Design(folds: d?["folds"] as? Int, reason: d?["reason"] as? String)
}

/// The keys of a decoded JSON object (none for anything else).
private func keys(_ json: Any?) -> Set<String> { Set((json as? [String: Any])?.keys.map { $0 } ?? []) }
