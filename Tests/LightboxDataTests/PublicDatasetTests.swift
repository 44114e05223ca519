import Foundation
import LightboxTestSupport
import XCTest
import ZIPFoundation
@testable import LightboxData

/// The download of the public data set, exercised against a local HTTP server (this machine
/// is offline): a zip with the repository's layout is served, fetched, unpacked into the cache.
final class PublicDatasetTests: XCTestCase {
    var work: URL!
    var server: Process?
    /// Where the data set is unpacked: inside this test's folder, not the user's cache.
    var target: String { PublicDataset.directory(home: work.appendingPathComponent("home").path) }

    override func setUpWithError() throws {
        work = FileManager.default.temporaryDirectory.appendingPathComponent("lightbox-dl-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: work, withIntermediateDirectories: true)
    }

    override func tearDownWithError() throws {
        server?.terminate()
        server?.waitUntilExit()
        try? FileManager.default.removeItem(at: work)
    }

    /// A zip like GitHub's archive of the repository: one top folder with metadata.csv and images/.
    func makeArchive() throws -> URL {
        let top = work.appendingPathComponent("site/covid-chestxray-dataset-master")
        try FileManager.default.createDirectory(at: top.appendingPathComponent("images"), withIntermediateDirectories: true)
        let fixture = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
            .appendingPathComponent("LightboxImagingTests/Fixtures/rgb8.png")
        try FileManager.default.copyItem(at: fixture, to: top.appendingPathComponent("images/a.png"))
        try Data("patientid,finding,view,modality,folder,filename\n1,COVID-19,PA,X-ray,images,a.png\n".utf8)
            .write(to: top.appendingPathComponent("metadata.csv"))
        let zip = work.appendingPathComponent("serve/master.zip")
        try FileManager.default.createDirectory(at: zip.deletingLastPathComponent(), withIntermediateDirectories: true)
        try FileManager.default.zipItem(at: top, to: zip, shouldKeepParent: true)
        return zip
    }

    /// Serves `directory` on a free loopback port; returns the port.
    func serve(_ directory: URL) throws -> Int {
        let port = Int.random(in: 20000...60000)
        let p = Process()
        p.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        p.arguments = ["python3", "-m", "http.server", "--bind", "127.0.0.1", "--directory", directory.path, "\(port)"]
        p.standardOutput = FileHandle.nullDevice
        p.standardError = FileHandle.nullDevice
        try p.run()
        server = p
        for _ in 0..<100 {  // wait until it answers (bounded: 10 s)
            if (try? Data(contentsOf: URL(string: "http://127.0.0.1:\(port)/")!)) != nil { return port }
            usleep(100_000)
        }
        throw XCTSkip("local HTTP server did not start")
    }

    func testDownloadsUnpacksAndReusesTheCache() throws {
        let zip = try makeArchive()
        let port = try serve(zip.deletingLastPathComponent())
        let url = "http://127.0.0.1:\(port)/master.zip"
        var lines: [String] = []
        let directory = try PublicDataset.ensure(url: url, directory: target) { lines.append($0) }
        XCTAssertEqual(directory, target)
        XCTAssertTrue(FileManager.default.fileExists(atPath: directory + "/metadata.csv"))
        XCTAssertTrue(lines.first?.contains("downloading") ?? false, "\(lines)")
        let dataset = try DatasetLoader.load(directory, saltFolder: TestSettings.local.home)
        XCTAssertEqual(dataset.images.count, 1)

        // Second time: no download (the server is gone).
        server?.terminate()
        server?.waitUntilExit()
        lines = []
        XCTAssertEqual(try PublicDataset.ensure(url: url, directory: target) { lines.append($0) }, directory)
        XCTAssertTrue(lines.isEmpty)
    }

    func testUnreachableServerSaysWhatToDo() throws {
        // The discard port: nothing listens.
        XCTAssertThrowsError(try PublicDataset.ensure(url: "http://127.0.0.1:9/none.zip", directory: target) { _ in }) { error in
            XCTAssertTrue("\(error)".contains("--data"), "\(error)")
        }
        XCTAssertFalse(FileManager.default.fileExists(atPath: target))
    }

    func testArchiveWithoutMetadataIsRefused() throws {
        let junk = work.appendingPathComponent("junk.zip")
        let folder = work.appendingPathComponent("junk")
        try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
        try Data("x".utf8).write(to: folder.appendingPathComponent("readme.txt"))
        try FileManager.default.zipItem(at: folder, to: junk)
        XCTAssertThrowsError(try PublicDataset.ensure(url: junk.absoluteString, directory: target) { _ in }) { XCTAssertTrue("\($0)".contains("no metadata.csv"), "\($0)") }
    }
}
