import Foundation
import LightboxImaging
import LightboxTestSupport
import XCTest

/// The shortcut audit on pictures whose class is written where the audit looks: a frame
/// outside the central box (a shortcut: the audit must warn) or a disc inside it (the audit
/// must see the AUC fall with the box hidden). Noise pictures have no lungs to locate: these
/// audit with `--box central`; the default (each picture's located lungs) is checked for what
/// it records.
final class AuditCommandTests: TemporaryFolderTestCase {
    /// 20 + 20 noisy grey 256x256 pictures; class A carries a bright mark (a frame near the
    /// border, or a disc in the centre), class B none.
    func makeDataset(mark: String) throws -> URL {
        let root = work.appendingPathComponent("data-\(mark)")
        var state: UInt64 = 0x9E3779B97F4A7C15
        func noise() -> UInt8 {
            state = state &* 6364136223846793005 &+ 1442695040888963407
            return UInt8(60 + (state >> 33) % 80)
        }
        let side = 256
        for label in ["A", "B"] {
            let folder = root.appendingPathComponent(label)
            try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
            for n in 0..<20 {
                var grey = [UInt8](repeating: 0, count: side * side)
                for y in 0..<side {
                    for x in 0..<side {
                        var v = noise()
                        if label == "A" {
                            let edge = min(x, y, side - 1 - x, side - 1 - y)
                            let r = hypot(Double(x - side / 2), Double(y - side / 2))
                            if (mark == "frame" && edge >= 4 && edge < 20) || (mark == "disc" && r < 60) { v = 250 }
                        }
                        grey[y * side + x] = v
                    }
                }
                let png = try PNGEncoder.encode(rgb: grey.flatMap { [$0, $0, $0] }, width: side, height: side)
                try png.write(to: folder.appendingPathComponent("\(label)-\(n).png"))
            }
        }
        return root
    }

    func trainAndAudit(mark: String, box: String = "central") throws -> [String: Any] {
        let data = try makeDataset(mark: mark)
        let run = work.appendingPathComponent("run-\(mark)")
        let train = try CLI.run(["train", "--method", "head", "--data", data.path, "--out", run.path, "--epochs", "30", "--folds", "1", "--split", "60/20/20",
                                 "--positive", "A", "--box", box])
        XCTAssertEqual(train.status, 0, train.stderr)
        // train audits its own test split.
        let report = try String(contentsOf: run.appendingPathComponent("report.html"), encoding: .utf8)
        XCTAssertTrue(report.contains("Shortcut audit"), "the report shows the audit")
        XCTAssertTrue(FileManager.default.fileExists(atPath: run.appendingPathComponent("audit.json").path))
        let metrics = try JSONSerialization.jsonObject(with: Data(contentsOf: run.appendingPathComponent("metrics.json"))) as! [String: Any]
        XCTAssertNotNil(metrics["audit"] as? [String: Any])

        let out = work.appendingPathComponent("audit-\(mark).json")
        let audit = try CLI.run(["audit", "--model", run.appendingPathComponent("model").path, "--data", data.path,
                                 "--positive", "A", "--out", out.path, "--box", box])
        XCTAssertEqual(audit.status, 0, audit.stderr)
        XCTAssertTrue(audit.stdout.contains("center_blanked"), audit.stdout)
        return try JSONSerialization.jsonObject(with: Data(contentsOf: out)) as! [String: Any]
    }

    func auc(_ audit: [String: Any], _ name: String) throws -> Double {
        let conditions = try XCTUnwrap(audit["conditions"] as? [[String: Any]])
        return try XCTUnwrap(conditions.first { $0["name"] as? String == name }?["auc"] as? Double, name)
    }

    func testAFrameOutsideTheLungsIsFlaggedAsAShortcut() throws {
        let audit = try trainAndAudit(mark: "frame")
        XCTAssertEqual(audit["n_images"] as? Int, 40)
        XCTAssertGreaterThan(try auc(audit, "none"), 0.95)
        XCTAssertGreaterThan(try auc(audit, "center_blanked"), 0.95, "the frame is still there with the centre hidden")
        XCTAssertLessThan(try auc(audit, "outside_blanked"), 0.85, "only noise is left inside the box")
        XCTAssertTrue((audit["verdict"] as? String ?? "").hasPrefix("Warning"), "\(audit["verdict"] ?? "")")
        XCTAssertEqual(audit["shortcut_suspected"] as? Bool, true)
    }

    func testAMarkInsideTheLungsIsNotAShortcut() throws {
        let audit = try trainAndAudit(mark: "disc")
        XCTAssertGreaterThan(try auc(audit, "none"), 0.95)
        XCTAssertLessThan(try auc(audit, "center_blanked"), 0.85, "the disc is hidden")
        XCTAssertGreaterThan(try auc(audit, "outside_blanked"), 0.95)
        XCTAssertFalse((audit["verdict"] as? String ?? "").hasPrefix("Warning"), "\(audit["verdict"] ?? "")")
        XCTAssertEqual(audit["shortcut_suspected"] as? Bool, false)
    }

    /// `--box central` records the fixed box as audit.json always held it (x, y) with its kind,
    /// and describes the conditions as before.
    func testBoxCentralRecordsTheCentralBoxAsBefore() throws {
        let audit = try trainAndAudit(mark: "frame")
        let box = try XCTUnwrap(audit["box"] as? [String: Any])
        XCTAssertEqual(box["kind"] as? String, "central")
        XCTAssertEqual(box["x"] as? [Double], [0.15, 0.85])
        XCTAssertEqual(box["y"] as? [Double], [0.10, 0.90])
        XCTAssertNil(box["margin"])
        XCTAssertNil(audit["pictures"], "no lungs located, no heatmap mass")
        XCTAssertNil(audit["heatmap_mass_in_lungs"])
        let descriptions = try XCTUnwrap(audit["conditions"] as? [[String: Any]]).map { $0["description"] as? String ?? "" }
        XCTAssertEqual(descriptions, ["the images as they are",
                                      "the central box (x 15-85%, y 10-90% of the model's input), most of the lungs, blacked out",
                                      "everything outside the central box (x 15-85%, y 10-90% of the model's input) blacked out"])
    }

    /// By default train and audit locate each picture's lungs: audit.json records the kind, the
    /// margin and the locator, each picture's box and heatmap mass, and the mean with its baseline.
    func testBoxLungsRecordsEachPicturesLungsAndHeatmapMass() throws {
        let data = try makeDataset(mark: "disc")
        let run = work.appendingPathComponent("run-lungs")
        let train = try CLI.run(["train", "--method", "head", "--data", data.path, "--out", run.path, "--epochs", "10", "--folds", "1",
                                 "--split", "60/20/20", "--positive", "A"])
        XCTAssertEqual(train.status, 0, train.stderr)
        let metrics = try JSONSerialization.jsonObject(with: Data(contentsOf: run.appendingPathComponent("metrics.json"))) as! [String: Any]
        let trainAudit = try XCTUnwrap(metrics["audit"] as? [String: Any])
        XCTAssertEqual((trainAudit["box"] as? [String: Any])?["kind"] as? String, "lungs")
        XCTAssertNil(trainAudit["pictures"], "metrics.json leaves the pictures to audit.json")
        XCTAssertNotNil(trainAudit["heatmap_mass_in_lungs"])
        let trainAuditFile = try JSONSerialization.jsonObject(with: Data(contentsOf: run.appendingPathComponent("audit.json"))) as! [String: Any]
        XCTAssertEqual((trainAuditFile["pictures"] as? [Any])?.count, trainAudit["n_images"] as? Int)
        let report = try String(contentsOf: run.appendingPathComponent("report.html"), encoding: .utf8)
        XCTAssertTrue(report.contains("predicted lungs"), "the report says which box was blanked")

        let out = work.appendingPathComponent("audit-lungs.json")
        let result = try CLI.run(["audit", "--model", run.appendingPathComponent("model").path, "--data", data.path,
                                  "--positive", "A", "--out", out.path])
        XCTAssertEqual(result.status, 0, result.stderr)
        let audit = try JSONSerialization.jsonObject(with: Data(contentsOf: out)) as! [String: Any]
        let box = try XCTUnwrap(audit["box"] as? [String: Any])
        XCTAssertEqual(box["kind"] as? String, "lungs")
        XCTAssertEqual(box["margin"] as? Double, 0.05)
        XCTAssertEqual(box["locator"] as? String, "shipped")
        XCTAssertNil(box["x"])
        let descriptions = try XCTUnwrap(audit["conditions"] as? [[String: Any]]).map { $0["description"] as? String ?? "" }
        XCTAssertEqual(descriptions[1], "each picture's predicted lungs (box + 5% margin) blacked out")
        XCTAssertEqual(descriptions[2], "everything outside each picture's predicted lungs (box + 5% margin) blacked out")
        let pictures = try XCTUnwrap(audit["pictures"] as? [[String: Any]])
        XCTAssertEqual(pictures.count, 40)
        for picture in pictures {
            let b = try XCTUnwrap(picture["lungs_box"] as? [Double])
            XCTAssertEqual(b.count, 4)
            XCTAssertTrue(0 <= b[0] && b[0] < b[2] && b[2] <= 256 && 0 <= b[1] && b[1] < b[3] && b[3] <= 256, "\(b)")
            if let mass = picture["heatmap_mass_in_lungs"] as? Double { XCTAssertTrue((0...1).contains(mass)) }
        }
        let mass = try XCTUnwrap(audit["heatmap_mass_in_lungs"] as? [String: Any])
        let mean = try XCTUnwrap(mass["mean"] as? Double), baseline = try XCTUnwrap(mass["baseline"] as? Double)
        XCTAssertTrue((0...1).contains(mean) && (0...1).contains(baseline))
        XCTAssertTrue(result.stdout.contains("falls inside its predicted lung box"), result.stdout)

        let withCentral = try CLI.run(["audit", "--model", run.appendingPathComponent("model").path, "--data", data.path,
                                       "--box", "central", "--locator", "x.safetensors"])
        XCTAssertNotEqual(withCentral.status, 0, "--locator with --box central is refused")
    }

    /// The box in pixels of the 224 input, and what each blanking leaves.
    func testBlankingBox() {
        let (columns, rows) = InputBlanking.boxPixels(width: 224, height: 224)
        XCTAssertEqual(columns, 34..<190)
        XCTAssertEqual(rows, 22..<202)
        let white = RGBImage(width: 224, height: 224, pixels: [Float](repeating: 255, count: 224 * 224 * 3))
        let center = InputBlanking.centerBlanked.apply(white), outside = InputBlanking.outsideBlanked.apply(white)
        for (x, y, inside) in [(100, 100, true), (34, 22, true), (189, 201, true), (33, 100, false), (100, 202, false), (0, 0, false)] {
            XCTAssertEqual(center[x, y, 1], inside ? 0 : 255, "\(x),\(y)")
            XCTAssertEqual(outside[x, y, 1], inside ? 255 : 0, "\(x),\(y)")
        }
        XCTAssertEqual(InputBlanking.none.apply(white), white)
    }
}
