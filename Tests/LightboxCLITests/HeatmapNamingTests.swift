import Foundation
import LightboxTestSupport
import XCTest

/// `predict --heatmap` names each heatmap after its picture and never writes two pictures'
/// heatmaps to one file (issue 25, item 11): PACS exports restart their numbering in every
/// series, so two folders' IM000000 used to leave one PNG, with exit 0.
final class HeatmapNamingTests: TemporaryFolderTestCase {
    let model = CLI.shared.appendingPathComponent("models/teachable-machine-image").path

    func copy(_ xray: String, to name: String) throws -> String {
        let target = work.appendingPathComponent(name).path
        try FileManager.default.createDirectory(atPath: (target as NSString).deletingLastPathComponent, withIntermediateDirectories: true)
        try FileManager.default.copyItem(atPath: CLI.images.appendingPathComponent(xray).path, toPath: target)
        return target
    }

    func heatmaps(_ arguments: [String]) throws -> [String: String] {
        let run = try CLI.run(["predict", "--model", model, "--json", "--heatmap", work.appendingPathComponent("heatmaps").path] + arguments)
        XCTAssertEqual(run.status, 0, run.stderr)
        let document = try XCTUnwrap(try JSONSerialization.jsonObject(with: Data(run.stdout.utf8)) as? [String: Any])
        let records = try XCTUnwrap(document["predictions"] as? [[String: Any]])
        return Dictionary(uniqueKeysWithValues: try records.map { (try XCTUnwrap($0["path"] as? String), try XCTUnwrap($0["heatmap"] as? String)) })
    }

    func testSameNamesInTwoSeriesGiveTwoHeatmaps() throws {
        let first = try copy("000001-2.jpg", to: "series-1/IM000000.jpg")
        let second = try copy("00870a9c.jpg", to: "series-2/IM000000.jpg")
        let other = try copy("tpmd200203f2-a.png", to: "series-2/IM000001.png")
        let written = try heatmaps([work.path])
        XCTAssertEqual(Set(written.keys), [first, second, other])
        XCTAssertEqual(Set(written.values).count, 3, "\(written)")
        let folder = work.appendingPathComponent("heatmaps").path
        XCTAssertEqual(try FileManager.default.contentsOfDirectory(atPath: folder).count, 3)
        // Each file is its own picture's heatmap: the two IM000000 differ.
        XCTAssertNotEqual(try Data(contentsOf: URL(fileURLWithPath: written[first]!)),
                          try Data(contentsOf: URL(fileURLWithPath: written[second]!)))
        // A name that only one picture has stays as it was; the shared one keeps it, with a suffix.
        XCTAssertEqual((written[other]! as NSString).lastPathComponent, "IM000001.heatmap.png")
        for path in [first, second] {
            let name = (written[path]! as NSString).lastPathComponent
            XCTAssertTrue(name.hasPrefix("IM000000-") && name.hasSuffix(".heatmap.png"), name)
        }
        // The names are stable: a second run writes the same files.
        XCTAssertEqual(try heatmaps([work.appendingPathComponent("series-1").path, work.appendingPathComponent("series-2").path]), written)
    }

    /// The same picture twice, and a.jpg beside a.png: still one file each.
    func testNoHeatmapIsOverwrittenWithinARun() throws {
        let jpg = try copy("000001-2.jpg", to: "a.jpg")
        let png = try copy("tpmd200203f2-a.png", to: "a.png")
        let run = try CLI.run(["predict", "--model", model, "--json", "--heatmap", work.appendingPathComponent("heatmaps").path, jpg, png, jpg])
        XCTAssertEqual(run.status, 0, run.stderr)
        let records = try XCTUnwrap((try JSONSerialization.jsonObject(with: Data(run.stdout.utf8)) as? [String: Any])?["predictions"] as? [[String: Any]])
        let files = records.compactMap { $0["heatmap"] as? String }
        XCTAssertEqual(files.count, 3)
        XCTAssertEqual(Set(files).count, 3, "\(files)")
        XCTAssertEqual(try FileManager.default.contentsOfDirectory(atPath: work.appendingPathComponent("heatmaps").path).count, 3)
    }
}
