import Foundation
import LightboxTestSupport
import XCTest

/// `--identify-by` (issue 25, item 12): a PACS export names its folders after patients, so a
/// picture's path can name a person. The DICOM data set (scripts/reference/make_dicom_dataset.py)
/// is copied under patient-named folders, with a second copy of one file (a duplicate) and a
/// truncated file beside them, then trained, predicted, evaluated and audited: with the default
/// for dicom-dir (`uid`) and with `digest`, no file under the outputs and no line on standard
/// output or error holds a patient's name; `--identify-by path` writes the paths as before.
final class PictureIdentityTests: XCTestCase {
    static let dataset = URL(fileURLWithPath: TestSettings.local.folder("test-data/dicom-dataset"))
    static let patients = ["HANSEN_ERIK - MRN100211", "OLSEN_KARI - MRN100212"]
    /// What must never reach an output: the names and record numbers (long enough not to turn
    /// up by chance in base64 or PNG bytes).
    static let secrets = ["HANSEN_ERIK", "MRN100211", "OLSEN_KARI", "MRN100212"]
    var work: URL!, pacs: URL!

    override func setUpWithError() throws {
        guard FileManager.default.fileExists(atPath: Self.dataset.appendingPathComponent("labels-by-uid.csv").path) else {
            let message = "no DICOM data set at \(Self.dataset.path): scripts/test.sh makes it"
            if ProcessInfo.processInfo.environment["CI"] != nil { XCTFail(message) }
            throw XCTSkip(message)
        }
        work = FileManager.default.temporaryDirectory.appendingPathComponent("lightbox-ids-\(UUID().uuidString)")
        pacs = work.appendingPathComponent("pacs")
        let fm = FileManager.default
        // The series folders (S00, S01, ...) split between the two patients' folders.
        let series = try fm.contentsOfDirectory(atPath: Self.dataset.appendingPathComponent("dicom").path).sorted()
        for (i, s) in series.enumerated() {
            let patient = pacs.appendingPathComponent(Self.patients[i % 2])
            try fm.createDirectory(at: patient, withIntermediateDirectories: true)
            try fm.copyItem(at: Self.dataset.appendingPathComponent("dicom/\(s)"), to: patient.appendingPathComponent(s))
        }
        let first = try XCTUnwrap(fm.subpaths(atPath: pacs.path)?.sorted().first { !fm.isDirectory(pacs.appendingPathComponent($0).path) })
        let bytes = try Data(contentsOf: pacs.appendingPathComponent(first))
        // The same picture again (skipped as a duplicate, naming the copy it repeats) and a
        // file cut inside its header (skipped, named by its digest: it has no UID to read), both in a patient's folder.
        try bytes.write(to: pacs.appendingPathComponent("\(Self.patients[0])/HANSEN_ERIK copy.dcm"))
        try bytes.prefix(200).write(to: pacs.appendingPathComponent("\(Self.patients[1])/OLSEN_KARI cut.dcm"))
    }

    override func tearDownWithError() throws {
        if let work { try? FileManager.default.removeItem(at: work) }
    }

    var data: [String] {
        ["--data", pacs.path, "--source", "dicom-dir", "--labels", Self.dataset.appendingPathComponent("labels-by-uid.csv").path]
    }

    func lightbox(_ arguments: [String]) throws -> CLI.Outcome {
        let outcome = try CLI.run(arguments)
        XCTAssertEqual(outcome.status, 0, "lightbox \(arguments.joined(separator: " ")): \(outcome.stderr)")
        return outcome
    }

    /// The default for dicom-dir (SOPInstanceUID) through train, predict (with heatmaps),
    /// evaluate and audit; `digest` through evaluate and predict.
    func testNoPatientNameReachesAnOutputOrALogLine() throws {
        let run = work.appendingPathComponent("run"), heatmaps = work.appendingPathComponent("heatmaps")
        var outputs: [CLI.Outcome] = []
        outputs.append(try lightbox(["train", "--method", "head", "--folds", "1", "--epochs", "2"]
                                    + data + ["--out", run.path]))
        let model = run.appendingPathComponent("model").path
        let uids = Set(try String(contentsOf: Self.dataset.appendingPathComponent("labels-by-uid.csv"), encoding: .utf8)
            .split(whereSeparator: \.isNewline).dropFirst().map { String($0.split(separator: ",")[0]) })
        let predictions = try String(contentsOf: run.appendingPathComponent("predictions.csv"), encoding: .utf8).split(separator: "\n")
        XCTAssertTrue(predictions[0].hasPrefix("uid,"), String(predictions[0]))
        for line in predictions.dropFirst() {
            XCTAssertTrue(uids.contains(String(line.split(separator: ",")[0])), "predictions.csv names a picture by its UID: \(line)")
        }
        let skipped = try String(contentsOf: run.appendingPathComponent("skipped.csv"), encoding: .utf8)
        XCTAssertTrue(skipped.contains("duplicate of 1.2."), skipped)
        XCTAssertTrue(skipped.contains("sha256-"), "the truncated file has no UID to read: its digest names it\n\(skipped)")

        // The cut file fails (exit 1), named by its digest; the others are predicted.
        let predicted = try CLI.run(["predict", "--identify-by", "uid", "--model", model, "--heatmap", heatmaps.path, pacs.path])
        XCTAssertEqual(predicted.status, 1, predicted.stderr)
        XCTAssertTrue(predicted.stderr.contains("error: sha256-"), predicted.stderr)
        XCTAssertTrue(predicted.stdout.contains("1.2.826."), predicted.stdout)
        outputs.append(predicted)
        let json = try lightbox(["predict", "--json", "--identify-by", "digest", "--model", model,
                                 pacs.appendingPathComponent(Self.patients[0]).path])
        outputs.append(json)
        let records = (try JSONSerialization.jsonObject(with: Data(json.stdout.utf8)) as! [String: Any])["predictions"] as! [[String: Any]]
        XCTAssertFalse(records.isEmpty)
        for r in records { XCTAssertEqual((r["digest"] as? String)?.count, "sha256-".count + 16, "\(r)") }
        outputs.append(try lightbox(["evaluate", "--model", model] + data + ["--identify-by", "digest",
                                                                            "--out", work.appendingPathComponent("eval/metrics.json").path]))
        outputs.append(try lightbox(["audit", "--model", model] + data + ["--out", work.appendingPathComponent("eval/audit.json").path]))
        try assertNoPatientName(in: [run, heatmaps, work.appendingPathComponent("eval")], outputs: outputs)
    }

    /// `--identify-by path` keeps today's outputs: the paths as read, patient names and all.
    func testIdentifyByPathWritesThePaths() throws {
        let run = work.appendingPathComponent("run")
        _ = try lightbox(["train", "--method", "head", "--folds", "1", "--epochs", "2", "--identify-by", "path"] + data + ["--out", run.path])
        let split = try String(contentsOf: run.appendingPathComponent("split.csv"), encoding: .utf8).split(separator: "\n")
        XCTAssertTrue(split[0].hasPrefix("path,"), String(split[0]))
        for line in split.dropFirst() {
            XCTAssertTrue(line.hasPrefix(pacs.path + "/HANSEN_ERIK - MRN100211/") || line.hasPrefix(pacs.path + "/OLSEN_KARI - MRN100212/"),
                          String(line))
        }
        let skipped = try String(contentsOf: run.appendingPathComponent("skipped.csv"), encoding: .utf8)
        XCTAssertTrue(skipped.contains(pacs.appendingPathComponent("\(Self.patients[1])/OLSEN_KARI cut.dcm").path), skipped)
    }

    /// A bad value is a usage error naming the option and its values.
    func testABadValueIsRefused() throws {
        let refused = try CLI.run(["evaluate", "--model", "m", "--identify-by", "name"] + data)
        XCTAssertNotEqual(refused.status, 0)
        XCTAssertTrue(refused.stderr.contains("identify-by"), refused.stderr)
        XCTAssertTrue(refused.stderr.contains("path") && refused.stderr.contains("uid") && refused.stderr.contains("digest"), refused.stderr)
    }

    func assertNoPatientName(in folders: [URL], outputs: [CLI.Outcome]) throws {
        var texts: [(String, String)] = outputs.flatMap { [("stdout", $0.stdout), ("stderr", $0.stderr)] }
        for folder in folders {
            for relative in try FileManager.default.subpathsOfDirectory(atPath: folder.path) {
                texts.append(("the name \(folder.lastPathComponent)/\(relative)", relative))
                let file = folder.appendingPathComponent(relative).path
                guard !FileManager.default.isDirectory(file), let data = FileManager.default.contents(atPath: file) else { continue }
                texts.append((file, String(decoding: data, as: UTF8.self)))
            }
        }
        XCTAssertTrue(texts.contains { $0.0.hasSuffix("report.html") })
        XCTAssertTrue(texts.contains { $0.0.hasSuffix(".heatmap.png") }, "predict wrote heatmaps")
        for (name, text) in texts {
            for secret in Self.secrets where text.contains(secret) {
                let line = text.split(separator: "\n").first { $0.contains(secret) } ?? ""
                XCTFail("\(name) holds '\(secret)': \(line.prefix(300))")
            }
        }
    }
}
