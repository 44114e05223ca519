import Foundation
import LightboxCore
import LightboxData
import LightboxInterop
import XCTest

/// `lightbox evaluate` on pictures that include the model's training pictures: a small head
/// model trained here on developer X-rays (patients kept together, one split), whose bundle
/// records its training split's digests, evaluated on every picture; then with a record one
/// picture short, so that one is a picture of a patient the model has seen. The overlap is named in a warning, the headline metrics are
/// exactly those of an evaluation on the other pictures alone, the metrics over every picture
/// are kept under `all_pictures`, sharded evaluation writes the same, and a data set of nothing
/// but training pictures is refused.
final class EvaluateOverlapTests: XCTestCase {
    var work: URL!

    override func setUpWithError() throws {
        work = FileManager.default.temporaryDirectory.appendingPathComponent("lightbox-overlap-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: work.appendingPathComponent("data"), withIntermediateDirectories: true)
    }

    override func tearDownWithError() throws {
        try? FileManager.default.removeItem(at: work)
    }

    func path(_ name: String) -> String { work.appendingPathComponent(name).path }

    func json(_ name: String) throws -> [String: Any] {
        try JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: path(name)))) as! [String: Any]
    }

    /// A CSV list (path, label, group) of `images` in `data/`, in this order.
    func writeList(_ name: String, _ images: [LabeledImage]) throws {
        let rows = images.map { "\(($0.path as NSString).lastPathComponent),\($0.label),\($0.group)" }
        try ("path,label,group\n" + rows.joined(separator: "\n") + "\n").write(toFile: path("data/\(name)"), atomically: true, encoding: .utf8)
    }

    func testEvaluateLeavesTrainingPicturesOutOfTheHeadline() throws {
        // Developer X-rays of 26 patients, several with more than one picture, copied under plain names.
        let source = CLI.shared.appendingPathComponent("data/covid-chestxray")
        guard FileManager.default.fileExists(atPath: source.path) else { throw XCTSkip("needs the developer data at \(source.path)") }
        let all = try DataSelection(path: source.path).load(saltFolder: work.path).images
        let groups = Dictionary(grouping: all, by: \.group)
        let covid = groups.keys.filter { groups[$0]!.count >= 2 && groups[$0]![0].label == "COVID-19" }.sorted().prefix(14)
        let other = groups.keys.filter { groups[$0]![0].label == "OTHER" }.sorted().prefix(12)
        var images: [LabeledImage] = [], digests = Set<String>()
        for image in (covid + other).flatMap({ groups[$0]! }) {
            // Each picture once (evaluate would drop a repeated one).
            guard digests.insert(SHA256.hex(try Data(contentsOf: URL(fileURLWithPath: image.path)))).inserted else { continue }
            let name = "img-\(images.count).\((image.path as NSString).pathExtension)"
            try FileManager.default.copyItem(atPath: image.path, toPath: path("data/\(name)"))
            images.append(LabeledImage(path: path("data/\(name)"), label: image.label, group: "p" + SHA256.hex(Data(image.group.utf8)).prefix(8)))
        }
        try writeList("all.csv", images)

        let train = try CLI.run(["train", "--method", "head", "--folds", "1", "--split", "60/20/20", "--epochs", "1", "--no-cache",
                                 "--data", path("data/all.csv"), "--out", path("run")])
        XCTAssertEqual(train.status, 0, train.stderr)
        guard train.status == 0 else { return }
        // The training split's pictures, from split.csv (by its header), and their content digests.
        let split = try String(contentsOfFile: path("run/split.csv"), encoding: .utf8).split(separator: "\n").map { $0.split(separator: ",", omittingEmptySubsequences: false).map(String.init) }
        let pathColumn = try XCTUnwrap(split[0].firstIndex(of: "path")), partColumn = try XCTUnwrap(split[0].firstIndex(of: "split"))
        let trainPaths = Set(split.dropFirst().filter { $0[partColumn] == "train" }.map { URL(fileURLWithPath: $0[pathColumn]).standardizedFileURL.path })
        let trained = images.filter { trainPaths.contains(URL(fileURLWithPath: $0.path).standardizedFileURL.path) }
        XCTAssertGreaterThan(trained.count, 5)
        XCTAssertLessThan(trained.count, images.count - 5)
        // One training patient's second picture is left out of the record: a picture the model did
        // not train on, of a patient it has seen.
        let multi = try XCTUnwrap(Dictionary(grouping: trained, by: \.group).values.first { $0.count >= 2 })
        let recorded = trained.filter { $0.path != multi[1].path }
        let digest = { (image: LabeledImage) in SHA256.hex(try Data(contentsOf: URL(fileURLWithPath: image.path))) }
        var bundle = try ModelBundle.read(from: path("run/model"))
        // The run recorded exactly its training split's pictures; evaluated on every picture, those
        // are the overlap (whole patients: the split keeps a patient's pictures together).
        XCTAssertEqual(bundle.trainingDigests, Set(try trained.map(digest)).sorted(), "the training run's record")
        let own = try CLI.run(["evaluate", "--model", path("run/model"), "--data", path("data/all.csv"), "--out", path("own.json"), "--no-cache"])
        XCTAssertEqual(own.status, 0, own.stderr)
        XCTAssertEqual(try json("own.json")["overlap"] as? [String: Int],
                       ["n_images": trained.count, "n_patients": Set(trained.map(\.group)).count, "other_images_of_those_patients": 0])
        // The record as the tests below need it: none (plain-model), and one picture short (run/model).
        bundle.trainingDigests = nil
        try bundle.write(to: path("plain-model"))
        bundle.trainingDigests = try recorded.map(digest)
        try bundle.write(to: path("run/model"))

        let unseen = images.filter { image in !recorded.contains { $0.path == image.path } }
        let n = recorded.count, m = images.count, patients = Set(recorded.map(\.group)).count
        try writeList("unseen.csv", unseen)
        try writeList("trained.csv", recorded)

        // Every picture: the warning, the headline on the others, every picture under all_pictures.
        let mixed = try CLI.run(["evaluate", "--model", path("run/model"), "--data", path("data/all.csv"), "--out", path("mixed.json"), "--no-cache"])
        XCTAssertEqual(mixed.status, 0, mixed.stderr)
        XCTAssertTrue(mixed.stderr.contains("warning: \(n) of \(m) evaluated pictures (\(patients) patients) were used to train this model; the headline metrics below are on the other \(m - n) pictures (1 of which are of those patients, whom the model has seen)"),
                      mixed.stderr)
        let headline = try json("mixed.json")
        XCTAssertEqual(headline["n_images"] as? Int, m - n)
        XCTAssertTrue(mixed.stdout.contains("\(m - n) images, \(Set(unseen.map(\.group)).count) patients not used in training: accuracy"), mixed.stdout)
        let overlap = try XCTUnwrap(headline["overlap"] as? [String: Int])
        XCTAssertEqual(overlap, ["n_images": n, "n_patients": patients, "other_images_of_those_patients": 1])
        let allPictures = try XCTUnwrap(headline["all_pictures"] as? [String: Any])
        XCTAssertEqual(allPictures["n_images"] as? Int, m)

        // The headline is exactly an evaluation on the other pictures alone (same model, same seed).
        let alone = try CLI.run(["evaluate", "--model", path("run/model"), "--data", path("data/unseen.csv"), "--out", path("alone.json"), "--no-cache"])
        XCTAssertEqual(alone.status, 0, alone.stderr)
        XCTAssertFalse(alone.stderr.contains("warning"), alone.stderr)
        var aloneJSON = try json("alone.json")
        XCTAssertEqual(aloneJSON.removeValue(forKey: "overlap") as? [String: Int], ["n_images": 0, "n_patients": 0, "other_images_of_those_patients": 0])
        XCTAssertNil(aloneJSON["all_pictures"])
        var headlineOnly = headline
        headlineOnly["overlap"] = nil
        headlineOnly["all_pictures"] = nil
        headlineOnly["skipped"] = nil
        aloneJSON["skipped"] = nil
        XCTAssertEqual(NSDictionary(dictionary: headlineOnly), NSDictionary(dictionary: aloneJSON), "headline = metrics of the unseen pictures alone")
        // all_pictures is what the model without its record says over every picture.
        let plain = try CLI.run(["evaluate", "--model", path("plain-model"), "--data", path("data/all.csv"), "--out", path("plain.json"), "--no-cache"])
        XCTAssertEqual(plain.status, 0, plain.stderr)
        var plainJSON = try json("plain.json")
        XCTAssertNil(plainJSON["overlap"], "no record, no overlap reported")
        for key in ["skipped", "disclaimer", "precision"] { plainJSON[key] = nil }
        XCTAssertEqual(NSDictionary(dictionary: allPictures), NSDictionary(dictionary: plainJSON))
        XCTAssertNotEqual(allPictures["accuracy"] as? Double, nil)

        // Over shards: the same metrics.json, bit for bit.
        let sharded = try CLI.run(["evaluate", "--model", path("run/model"), "--data", path("data/all.csv"), "--out", path("sharded.json"),
                                   "--shards", "2", "--cache-dir", path("cache")])
        XCTAssertEqual(sharded.status, 0, sharded.stderr)
        XCTAssertTrue(sharded.stderr.contains("warning: \(n) of \(m) evaluated pictures"), sharded.stderr)
        XCTAssertEqual(try Data(contentsOf: URL(fileURLWithPath: path("sharded.json"))), try Data(contentsOf: URL(fileURLWithPath: path("mixed.json"))))

        // Nothing but training pictures: refused, nothing written.
        let only = try CLI.run(["evaluate", "--model", path("run/model"), "--data", path("data/trained.csv"), "--out", path("only.json"), "--no-cache"])
        XCTAssertEqual(only.status, 1)
        XCTAssertTrue(only.stderr.contains("error: \(path("data/trained.csv")): all \(n) evaluated pictures (\(patients) patients) were used to train \(path("run/model"))"),
                      only.stderr)
        XCTAssertFalse(FileManager.default.fileExists(atPath: path("only.json")))
        XCTAssertFalse(FileManager.default.fileExists(atPath: path("only-predictions.csv")))
    }
}
