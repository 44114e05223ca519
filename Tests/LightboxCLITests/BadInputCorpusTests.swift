import Foundation
import LightboxCore
import XCTest
import LightboxImaging
import LightboxModels

/// Every data-reading command over the bad-input corpus of scripts/fixtures/make_bad_inputs.py:
/// a data-set command skips and names each bad item and goes on; a single-item command exits
/// non-zero with one line naming the file; nothing crashes or writes a partial file.
final class BadInputCorpusTests: XCTestCase {
    static var corpus: URL = {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("lightbox-corpus-\(getpid())")
        let script = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
            .deletingLastPathComponent().appendingPathComponent("scripts/fixtures/make_bad_inputs.py")
        let p = Process()
        p.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        p.arguments = ["python3", script.path, dir.path]
        p.standardOutput = FileHandle.nullDevice
        try? p.run()
        p.waitUntilExit()
        return dir
    }()

    struct Expect: Decodable { var ok: [Int]?; var error: String? }

    func expectations() throws -> [String: Expect] { try expected(in: "images") }

    /// A corpus part's expected.json: what each of its files must give.
    func expected<T: Decodable>(in part: String) throws -> [String: T] {
        let file = Self.corpus.appendingPathComponent("\(part)/expected.json")
        guard let data = FileManager.default.contents(atPath: file.path) else {
            XCTFail("the corpus was not generated (python3 with Pillow and numpy; scripts/test.sh installs them)")
            return [:]
        }
        return try JSONDecoder().decode([String: T].self, from: data)
    }

    func testEveryImageDecodesUprightOrFailsNamingTheProblem() throws {
        let all = try expectations()
        XCTAssertGreaterThanOrEqual(all.count, 16)
        for (name, expect) in all {
            let path = Self.corpus.appendingPathComponent("images/\(name)").path
            do {
                let image = try ImageDecoder(maxPixels: LightboxSettings.defaultMaxPixels, dicomWindow: .first).decode(file: path)
                XCTAssertEqual([image.width, image.height], expect.ok, "\(name) should decode upright")
            } catch let e as ImageDecodingError {
                XCTAssertNil(expect.ok, "\(name): \(e)")
                XCTAssertTrue(e.description.hasPrefix(path) && e.description.contains(expect.error ?? "?"), "\(name): \(e)")
            }
        }
    }

    func testEmbedSkipsEachBadImageAndGoesOn() throws {
        let all = try expectations()
        let out = Self.corpus.appendingPathComponent("embed/e.npy").path
        let r = try CLI.run(["embed", "--out", out, Self.corpus.appendingPathComponent("images").path])
        XCTAssertEqual(r.status, 0, r.stderr)
        let listed = try String(contentsOfFile: out + ".txt", encoding: .utf8).split(separator: "\n").map { ($0 as NSString).lastPathComponent }
        XCTAssertEqual(Set(listed), Set(all.filter { $0.value.ok != nil }.keys))
        for (name, expect) in all where expect.error != nil {
            XCTAssertTrue(r.stderr.contains("skipped \(Self.corpus.appendingPathComponent("images/\(name)").path): "), "\(name) not reported")
        }
    }

    func testPredictOnOneBadImageIsOneLine() throws {
        let model = CLI.shared.appendingPathComponent("models/teachable-machine-image").path
        for (name, expect) in try expectations() where expect.error != nil {
            let path = Self.corpus.appendingPathComponent("images/\(name)").path
            let r = try CLI.run(["predict", "--model", model, path])
            XCTAssertEqual(r.status, 1, name)
            XCTAssertEqual(r.stderr.split(separator: "\n").count, 1, "\(name): \(r.stderr)")
            XCTAssertTrue(r.stderr.contains(path), r.stderr)
        }
    }

    func testPixelLimitIsConfigurable() throws {
        let path = Self.corpus.appendingPathComponent("images/good.png").path
        let r = try CLI.run(["embed", "--strict", "--out", Self.corpus.appendingPathComponent("limit/e.npy").path, path],
                            environment: ["LIGHTBOX_MAX_PIXELS": "100"])
        XCTAssertNotEqual(r.status, 0)
        XCTAssertTrue(r.stderr.contains("over the limit of 100 pixels"), r.stderr)
    }

    // Pictures cut to a third (Pillow: "image file is truncated") are skipped with that reason
    // and the rest of the data set is used.
    func testTruncatedPicturesAreSkippedInDataSets() throws {
        let data = Self.corpus.appendingPathComponent("datasets/truncated_images")
        let r = try CLI.run(["dataset", "inspect", "--data", data.path])
        XCTAssertEqual(r.status, 0, r.stderr)
        XCTAssertTrue(r.stdout.contains("8 images"), r.stdout)
        for name in ["a/third.jpg", "b/third.png"] {
            let line = r.stdout.split(separator: "\n").first { $0.contains(data.appendingPathComponent(name).path + ": ") }
            XCTAssertTrue(line?.contains("unreadable image: truncated") == true, "\(name): \(line ?? "not listed")")
        }
    }

    func testBrokenTables() throws {
        func inspect(_ name: String) throws -> CLI.Outcome {
            try CLI.run(["dataset", "inspect", "--data", Self.corpus.appendingPathComponent("tables/\(name)").path])
        }
        let missing = try inspect("missing_column")
        XCTAssertEqual(missing.status, 1)
        XCTAssertTrue(missing.stderr.contains("missing column modality"), missing.stderr)
        let quoting = try inspect("bad_quoting")
        XCTAssertEqual(quoting.status, 1)
        XCTAssertTrue(quoting.stderr.contains("never closed"), quoting.stderr)
        XCTAssertTrue(try inspect("bom_crlf").stdout.contains("2 images"))
        XCTAssertTrue(try inspect("duplicate_rows").stdout.contains("duplicate row for the same file"))
        XCTAssertTrue(try inspect("absent_files").stdout.contains("missing.png: missing file"))
        let escaping = try inspect("escaping_paths")
        XCTAssertEqual(escaping.stdout.components(separatedBy: "leaves the data folder").count - 1, 2, escaping.stdout)
        XCTAssertTrue(escaping.stdout.contains("2 images"))
    }

    func testAwkwardDataSets() throws {
        func train(_ name: String) throws -> (CLI.Outcome, URL) {
            let out = Self.corpus.appendingPathComponent("runs/\(name)")
            return (try CLI.run(["train", "--method", "head", "--data", Self.corpus.appendingPathComponent("datasets/\(name)").path, "--out", out.path,
                                 "--epochs", "2", "--no-cache"]), out)
        }
        let (empty, emptyOut) = try train("empty_class")
        XCTAssertEqual(empty.status, 1)
        XCTAssertTrue(empty.stderr.contains("class 'nothing' has no pictures"), empty.stderr)
        XCTAssertFalse(FileManager.default.fileExists(atPath: emptyOut.appendingPathComponent("model").path), "nothing partial written")
        let inspect = try CLI.run(["dataset", "inspect", "--data", Self.corpus.appendingPathComponent("datasets/empty_class").path])
        XCTAssertTrue(inspect.stdout.contains("empty class folder"), inspect.stdout)
        XCTAssertEqual(try train("single_class").0.status, 1)
        let (lonely, _) = try train("one_image_class")
        XCTAssertEqual(lonely.status, 0, lonely.stderr)
        XCTAssertTrue(lonely.stderr.contains("has no images in"), lonely.stderr)
        let (twice, twiceOut) = try train("same_image_two_classes")
        XCTAssertEqual(twice.status, 0, twice.stderr)
        let skipped = try String(contentsOf: twiceOut.appendingPathComponent("skipped.csv"), encoding: .utf8)
        XCTAssertEqual(skipped.components(separatedBy: "same image under another class").count - 1, 2, skipped)
    }

    struct HostileModel: Decodable { var layer: String?; var attribute: String? }

    func hostileModels() throws -> [String: HostileModel] { try expected(in: "models") }

    /// Hostile TF.js topologies (zero or negative strides, a huge input, a cycle, a missing input,
    /// weights of the wrong shape, ...) are refused before anything is built, naming model.json,
    /// the layer and the attribute; the small valid model they are made from builds and runs.
    func testHostileModelTopologiesNameTheFileLayerAndAttribute() throws {
        let all = try hostileModels()
        XCTAssertGreaterThanOrEqual(all.count, 15)
        for (name, expect) in all {
            let folder = Self.corpus.appendingPathComponent("models/\(name)").path
            guard let layer = expect.layer, let attribute = expect.attribute else {
                let network = try TFJSLayersModel.load(folder).backboneNetwork(parallelism: 1)
                XCTAssertEqual(network.embeddingChannels, 4, name)
                continue
            }
            XCTAssertThrowsError(try TFJSLayersModel.load(folder).backboneNetwork(parallelism: 1), name) { error in
                let text = "\(error)"
                XCTAssertTrue(text.hasPrefix(folder + "/model.json: layer '\(layer)' "), "\(name): \(text)")
                XCTAssertTrue(text.contains(", \(attribute): "), "\(name): \(text)")
                XCTAssertFalse(text.contains("\n"), "\(name): \(text)")
            }
        }
    }

    func testPredictWithAHostileModelIsOneLine() throws {
        let image = Self.corpus.appendingPathComponent("images/good.png").path
        for (name, expect) in try hostileModels() where expect.layer != nil {
            let folder = Self.corpus.appendingPathComponent("models/\(name)").path
            let r = try CLI.run(["predict", "--model", folder, image])
            XCTAssertEqual(r.status, 1, "\(name): \(r.stderr)")
            XCTAssertEqual(r.stderr.split(separator: "\n").count, 1, "\(name): \(r.stderr)")
            XCTAssertTrue(r.stderr.contains(folder + "/model.json") && r.stderr.contains(expect.attribute ?? "?"), "\(name): \(r.stderr)")
        }
    }
}
