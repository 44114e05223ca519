import Foundation
import LightboxCore
import LightboxTestSupport
import XCTest

/// Hospital-style DICOM through the real executable (scripts/reference/make_dicom_dataset.py,
/// made by scripts/test.sh in the test-data cache): 40 radiographs of 20 patients as numbered
/// DICOM files (12-bit, MONOCHROME1 and 2, RLE or not, windows that map back onto the 8-bit
/// originals) beside the same pictures as PNG. DICOM must train, evaluate and predict as the
/// PNGs do (probabilities within 1e-4), keep each patient's pictures together by PatientID, and
/// write no identifying attribute anywhere.
final class DICOMDatasetTests: XCTestCase {
    static let folder = URL(fileURLWithPath: TestSettings.local.folder("test-data/dicom-dataset"))
    var work: URL!

    struct Identifiers: Decodable {
        struct Picture: Decodable { var png: String; var dicom: String; var patientID: String; var label: String }
        var strings: [String]
        var pictures: [String: Picture]
    }

    override func setUpWithError() throws {
        guard FileManager.default.fileExists(atPath: Self.folder.appendingPathComponent("identifiers.json").path) else {
            let message = "no DICOM data set at \(Self.folder.path): scripts/test.sh makes it"
            if ProcessInfo.processInfo.environment["CI"] != nil { XCTFail(message) }
            throw XCTSkip(message)
        }
        work = FileManager.default.temporaryDirectory.appendingPathComponent("lightbox-dicom-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: work, withIntermediateDirectories: true)
    }

    override func tearDownWithError() throws {
        if let work { try? FileManager.default.removeItem(at: work) }
    }

    var identifiers: Identifiers {
        get throws { try JSONDecoder().decode(Identifiers.self, from: Data(contentsOf: Self.folder.appendingPathComponent("identifiers.json"))) }
    }

    func path(_ relative: String) -> String { Self.folder.appendingPathComponent(relative).path }

    func lightbox(_ arguments: [String]) throws -> CLI.Outcome {
        let outcome = try CLI.run(arguments)
        XCTAssertEqual(outcome.status, 0, "lightbox \(arguments.joined(separator: " ")): \(outcome.stderr)")
        return outcome
    }

    /// predictions.csv rows as (group, label, probabilities), sorted: the two runs name their
    /// pictures differently (PNG paths, DICOM file numbers) but group them alike.
    func predictionRows(_ run: URL) throws -> [(String, String, [Double])] {
        let lines = try String(contentsOf: run.appendingPathComponent("predictions.csv"), encoding: .utf8).split(separator: "\n")
        // The probability columns are p_<class> (a cross-fitted run adds a fold column after them).
        let header = lines[0].split(separator: ",").map(String.init)
        let columns = header.indices.filter { header[$0].hasPrefix("p_") }
        return lines.dropFirst().map { line in
            let f = line.split(separator: ",", omittingEmptySubsequences: false).map(String.init)
            return (f[1], f[2], columns.map { Double(f[$0])! })
        }.sorted { ($0.0, $0.1, $0.2.first!) < ($1.0, $1.1, $1.2.first!) }
    }

    func testTrainsEvaluatesAndPredictsLikeThePNGs() throws {
        let png = work.appendingPathComponent("png-run"), dcm = work.appendingPathComponent("dicom-run")
        var outputs: [CLI.Outcome] = []
        // One split (--folds 1): evaluate below scores the model on its own data set, which a
        // cross-fitted model trained on in full (evaluate refuses that).
        outputs.append(try lightbox(["train", "--method", "head", "--folds", "1", "--epochs", "5", "--data", path("png-list.csv"), "--out", png.path]))
        outputs.append(try lightbox(["train", "--method", "head", "--folds", "1", "--epochs", "5", "--data", path("dicom"), "--source", "dicom-dir",
                                     "--labels", path("labels.csv"), "--out", dcm.path]))
        let a = try predictionRows(png), b = try predictionRows(dcm)
        XCTAssertEqual(a.count, b.count)
        XCTAssertGreaterThan(a.count, 0)
        for (x, y) in zip(a, b) {
            XCTAssertEqual(x.0, y.0)
            XCTAssertEqual(x.1, y.1)
            for (p, q) in zip(x.2, y.2) { XCTAssertEqual(p, q, accuracy: 1e-4, "test picture of \(x.0)") }
        }

        // evaluate: the PNG model on the DICOM files (patients from PatientID) and on the PNGs.
        let onDICOM = work.appendingPathComponent("eval/dicom.json").path, onPNG = work.appendingPathComponent("eval/png.json").path
        outputs.append(try lightbox(["evaluate", "--model", png.appendingPathComponent("model").path, "--data", path("dicom"),
                                     "--source", "dicom-dir", "--labels", path("labels-by-uid.csv"), "--out", onDICOM]))
        outputs.append(try lightbox(["evaluate", "--model", png.appendingPathComponent("model").path, "--data", path("png-list.csv"), "--out", onPNG]))
        let m1 = try JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: onDICOM))) as! [String: Any]
        let onPNGFile = try JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: onPNG))) as! [String: Any]
        // The PNGs include the model's training pictures (the DICOM files' digests differ): their
        // metrics over every picture are kept under all_pictures.
        let m2 = onPNGFile["all_pictures"] as! [String: Any]
        for key in ["accuracy", "auc", "brier"] {
            XCTAssertEqual(m1[key] as! Double, m2[key] as! Double, accuracy: 1e-4, key)
        }
        XCTAssertEqual(m1["n_patients"] as? Int, 20, "PatientID groups the DICOM pictures")
        XCTAssertEqual(m1["n_images"] as? Int, 40)

        // predict: every DICOM file against its PNG.
        let pictures = try identifiers.pictures.values.sorted { $0.dicom < $1.dicom }
        XCTAssertEqual(pictures.count, 40)
        let dicomFiles = pictures.map { path($0.dicom) }, pngFiles = pictures.map { path($0.png) }
        let predicted = try lightbox(["predict", "--json", "--model", dcm.appendingPathComponent("model").path] + dicomFiles)
        outputs.append(predicted)
        let dicomAnswers = try predictions(predicted.stdout)
        let pngAnswers = try predictions(try lightbox(["predict", "--json", "--model", dcm.appendingPathComponent("model").path] + pngFiles).stdout)
        for (d, p) in zip(dicomFiles, pngFiles) {
            for (c, v) in pngAnswers[p]! { XCTAssertEqual(dicomAnswers[d]![c]!, v, accuracy: 1e-4, "\(d) against \(p)") }
        }
        // A multi-frame file: its first frame, with one warning naming it.
        let multiframe = TestSettings.local.folder("test-data/dicom-fixtures/multiframe.dcm")
        if FileManager.default.fileExists(atPath: multiframe) {
            let warned = try lightbox(["predict", "--model", dcm.appendingPathComponent("model").path, multiframe])
            XCTAssertEqual(warned.stderr.components(separatedBy: "\(multiframe): 3 frames, only the first is used").count, 2, warned.stderr)
        }
        try assertNothingIdentifying(in: [png, dcm, work.appendingPathComponent("eval")], outputs: outputs)
    }

    /// A model records the DICOM window it was trained with, and predict, evaluate and audit
    /// use it: a different --dicom-window is refused naming both (the model would silently see
    /// other pictures than in training), allowed with --dicom-window-override and a warning.
    /// A bundle written before the window was recorded keeps the old default, `first`.
    func testTheModelRecordsItsDICOMWindowAndCommandsApplyIt() throws {
        let run = work.appendingPathComponent("minmax-run"), model = run.appendingPathComponent("model").path
        _ = try lightbox(["train", "--method", "head", "--epochs", "3", "--data", path("dicom"), "--source", "dicom-dir",
                          "--labels", path("labels.csv"), "--dicom-window", "minmax", "--out", run.path])
        let manifest = try JSONSerialization.jsonObject(with: Data(contentsOf: run.appendingPathComponent("model/lightbox-model.json"))) as! [String: Any]
        XCTAssertEqual((manifest["preprocessing"] as? [String: Any])?["dicom_window"] as? String, "minmax")

        let files = try identifiers.pictures.values.map { path($0.dicom) }.sorted().prefix(6).map { $0 }
        let own = try predictions(try lightbox(["predict", "--json", "--model", model] + files).stdout)
        let same = try predictions(try lightbox(["predict", "--json", "--model", model, "--dicom-window", "minmax"] + files).stdout)
        XCTAssertEqual(own, same, "without --dicom-window the model's own window (minmax) is used")

        let refused = try CLI.run(["predict", "--model", model, "--dicom-window", "first"] + files)
        XCTAssertNotEqual(refused.status, 0)
        XCTAssertTrue(refused.stderr.contains("--dicom-window first differs from the window the model was trained with (minmax)"), refused.stderr)
        for command in [["evaluate", "--out", work.appendingPathComponent("e.json").path], ["audit"]] {
            let r = try CLI.run(command + ["--model", model, "--data", path("dicom"), "--source", "dicom-dir", "--labels", path("labels.csv"),
                                           "--dicom-window", "first"])
            XCTAssertNotEqual(r.status, 0, "\(command[0]) with another window")
            XCTAssertTrue(r.stderr.contains("differs from the window the model was trained with (minmax)"), r.stderr)
        }

        let overridden = try lightbox(["predict", "--json", "--model", model, "--dicom-window", "first", "--dicom-window-override"] + files)
        XCTAssertTrue(overridden.stderr.contains("trained with minmax"), overridden.stderr)
        XCTAssertNotEqual(try predictions(overridden.stdout), own, "the other window gives other pictures, so other probabilities")

        // A bundle from before the field: `first`, as then.
        var old = manifest
        var preprocessing = old["preprocessing"] as! [String: Any]
        preprocessing.removeValue(forKey: "dicom_window")
        old["preprocessing"] = preprocessing
        try JSONSerialization.data(withJSONObject: old).write(to: run.appendingPathComponent("model/lightbox-model.json"))
        XCTAssertEqual(try predictions(try lightbox(["predict", "--json", "--model", model] + files).stdout),
                       try predictions(overridden.stdout))
    }

    /// The embedding cache keeps the two DICOM windows apart: a file's bytes do not say which
    /// picture it became, so embedding it again with `--dicom-window minmax` must not reuse the
    /// embedding made with its own window (it did, before the window was part of the key).
    func testTheCacheKeepsDICOMWindowsApart() throws {
        let fixture = TestSettings.local.folder("test-data/dicom-fixtures/mono2_12bit_window.dcm")
        guard FileManager.default.fileExists(atPath: fixture) else { throw XCTSkip("no DICOM fixtures: scripts/test.sh makes them") }
        let cache = work.appendingPathComponent("cache").path
        func embed(_ window: String, cache: String, out: String) throws -> CLI.Outcome {
            try lightbox(["embed", "--out", work.appendingPathComponent(out).path, "--shards", "1", "--cache-dir", cache,
                          "--dicom-window", window, fixture])
        }
        _ = try embed("first", cache: cache, out: "first.npy")
        let minmax = try embed("minmax", cache: cache, out: "minmax.npy")
        XCTAssertTrue(minmax.stderr.contains("1 embeddings computed, 0 from the cache"), minmax.stderr)
        _ = try embed("minmax", cache: work.appendingPathComponent("fresh").path, out: "fresh.npy")
        let first = try Data(contentsOf: work.appendingPathComponent("first.npy"))
        let windowed = try Data(contentsOf: work.appendingPathComponent("minmax.npy"))
        XCTAssertNotEqual(windowed, first)
        XCTAssertEqual(windowed, try Data(contentsOf: work.appendingPathComponent("fresh.npy")))
    }

    /// Without a group column, each picture's patient is its PatientID as a pseudonym: both
    /// pictures of a patient fall in one part of the split, and the salt in the run directory
    /// turns the raw id into the pseudonym written (HMAC-SHA256, as the README says).
    func testPatientsStayTogetherByPatientID() throws {
        let run = work.appendingPathComponent("run")
        let outcome = try lightbox(["train", "--method", "head", "--epochs", "3", "--data", path("dicom"), "--source", "dicom-dir",
                                    "--labels", path("labels-by-uid.csv"), "--out", run.path])
        let salt = try String(contentsOf: run.appendingPathComponent("patient-id-salt"), encoding: .utf8).trimmingCharacters(in: .whitespacesAndNewlines)
        XCTAssertEqual(salt.count, 64)
        let mode = try FileManager.default.attributesOfItem(atPath: run.appendingPathComponent("patient-id-salt").path)[.posixPermissions] as? Int
        XCTAssertEqual(mode, 0o600)
        let key = stride(from: 0, to: 64, by: 2).map { UInt8(salt.dropFirst($0).prefix(2), radix: 16)! }
        // split.csv names each picture by its SOPInstanceUID (--identify-by's default for dicom-dir).
        let patientOf = try identifiers.pictures.mapValues(\.patientID)
        var partOf: [String: Set<String>] = [:], pseudonymOf: [String: String] = [:]
        for line in try String(contentsOf: run.appendingPathComponent("split.csv"), encoding: .utf8).split(separator: "\n").dropFirst() {
            let f = line.split(separator: ",").map(String.init)
            let raw = try XCTUnwrap(patientOf[f[0]], "split.csv names \(f[0])")
            XCTAssertEqual(f[1], "patient-" + HMACSHA256.hex(key: key, message: Array(raw.utf8)).prefix(16), "the pseudonym of \(raw)")
            partOf[raw, default: []].insert(f[3])
            pseudonymOf[raw] = f[1]
        }
        XCTAssertEqual(partOf.count, 20)
        for (patient, parts) in partOf { XCTAssertEqual(parts.count, 1, "\(patient)'s pictures are split across \(parts)") }
        XCTAssertEqual(Set(pseudonymOf.values).count, 20)
        try assertNothingIdentifying(in: [run], outputs: [outcome])
    }

    // MARK: helpers

    func predictions(_ json: String) throws -> [String: [String: Double]] {
        let root = try JSONSerialization.jsonObject(with: Data(json.utf8)) as! [String: Any]
        var out: [String: [String: Double]] = [:]
        for p in root["predictions"] as! [[String: Any]] {
            out[p["path"] as! String] = (p["probabilities"] as! [String: Any]).mapValues { ($0 as! NSNumber).doubleValue }
        }
        return out
    }

    /// No patient name, id, birth date, institution or physician in any file under `folders` or
    /// in the commands' output.
    func assertNothingIdentifying(in folders: [URL], outputs: [CLI.Outcome]) throws {
        let secrets = try identifiers.strings
        var texts: [(String, String)] = outputs.flatMap { [("stdout", $0.stdout), ("stderr", $0.stderr)] }
        for folder in folders {
            for relative in try FileManager.default.subpathsOfDirectory(atPath: folder.path) {
                let file = folder.appendingPathComponent(relative).path
                guard !FileManager.default.isDirectory(file), let data = FileManager.default.contents(atPath: file) else { continue }
                texts.append((file, String(decoding: data, as: UTF8.self)))
            }
        }
        XCTAssertGreaterThan(texts.count, 6)
        for (name, text) in texts {
            for secret in secrets where text.contains(secret) { XCTFail("\(name) holds '\(secret)'") }
        }
    }
}

extension FileManager {
    func isDirectory(_ path: String) -> Bool {
        var d: ObjCBool = false
        return fileExists(atPath: path, isDirectory: &d) && d.boolValue
    }
}
