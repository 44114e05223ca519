import Foundation
import LightboxTestSupport
import XCTest
import LightboxData
import LightboxModels
import ZIPFoundation

/// `lightbox train`, `evaluate`, `predict` and `dataset inspect` end to end on a small class-folder
/// data set made of real X-rays from ../shared, with the bad items real uploads contain.
final class WorkflowCommandTests: TemporaryFolderTestCase {
    /// 12 + 12 X-rays in two class folders (COVID-19 and OTHER by the shared metadata), a broken PNG and a .DS_Store.
    func makeDataset() throws -> URL { try Self.makeDataset(in: work) }

    /// The same data set, in `work`/data (other test classes use it too).
    static func makeDataset(in work: URL) throws -> URL {
        let shared = try DatasetLoader.load(CLI.shared.appendingPathComponent("data/covid-chestxray").path, saltFolder: TestSettings.local.home)
        let covid = shared.images.filter { $0.label == "COVID-19" }.map(\.path)
        let other = shared.images.filter { $0.label == "OTHER" }.map(\.path)
        let root = work.appendingPathComponent("data")
        for (label, names) in [("COVID-19", covid.prefix(12)), ("OTHER", other.prefix(12))] {
            let dir = root.appendingPathComponent(label)
            try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
            for path in names {
                try FileManager.default.copyItem(atPath: path, toPath: dir.appendingPathComponent((path as NSString).lastPathComponent).path)
            }
        }
        try Data("not a picture".utf8).write(to: root.appendingPathComponent("OTHER/broken.png"))
        try Data([0, 1, 2]).write(to: root.appendingPathComponent("OTHER/.DS_Store"))
        return root
    }

    func testTrainEvaluatePredictInspect() throws {
        let data = try makeDataset()
        let run = work.appendingPathComponent("run")
        let train = try CLI.run(["train", "--method", "head", "--data", data.path, "--out", run.path, "--epochs", "4",
                                      "--balance", "augment-to:10", "--folds", "1", "--split", "60/20/20"])
        XCTAssertEqual(train.status, 0, train.stderr)
        XCTAssertTrue(train.stdout.contains("report: \(run.path)/report.html"), train.stdout)
        XCTAssertTrue(train.stdout.contains("not a diagnosis"), train.stdout)
        XCTAssertTrue(train.stderr.contains("each image is its own group"), train.stderr)
        XCTAssertTrue(train.stderr.contains("epoch   4/4"), train.stderr)

        for name in ["metrics.json", "predictions.csv", "report.html", "split.csv", "skipped.csv", "model/lightbox-model.json",
                     "model/head.safetensors"] {
            XCTAssertTrue(FileManager.default.fileExists(atPath: run.appendingPathComponent(name).path), name)
        }
        let metrics = try JSONSerialization.jsonObject(with: Data(contentsOf: run.appendingPathComponent("metrics.json"))) as! [String: Any]
        for key in ["classes", "positive_class", "n_images", "n_patients", "accuracy", "auc", "auc_ci", "sensitivity",
                    "specificity", "confusion", "per_class", "epochs"] {
            XCTAssertNotNil(metrics[key], "metrics.json lacks \(key)")
        }
        XCTAssertEqual(metrics["classes"] as? [String], ["COVID-19", "OTHER"])
        XCTAssertEqual(metrics["method"] as? String, "head")
        XCTAssertEqual(Set((metrics["timings"] as? [String: Double])?.keys ?? [:].keys), ["load", "prepare", "train", "evaluate", "report"])
        XCTAssertEqual(metrics["positive_class"] as? String, "COVID-19")
        let epochs = try XCTUnwrap(metrics["epochs"] as? [[String: Any]])
        XCTAssertEqual(epochs.count, 4)
        XCTAssertEqual(Set(epochs[0].keys), ["epoch", "train_loss", "train_accuracy", "val_loss", "val_accuracy"])

        let skipped = try String(contentsOf: run.appendingPathComponent("skipped.csv"), encoding: .utf8)
        XCTAssertTrue(skipped.contains("broken.png,unreadable image"), skipped)
        XCTAssertTrue(skipped.contains(".DS_Store,not an image file"), skipped)
        let report = try String(contentsOf: run.appendingPathComponent("report.html"), encoding: .utf8)
        XCTAssertTrue(report.contains("Not a diagnostic device"))
        XCTAssertTrue(report.contains("data:image/png;base64,"), "heatmaps embedded")
        XCTAssertTrue(report.contains("<svg"), "charts embedded")

        // Test images never appear in training: split.csv assigns each group to one part.
        let split = try String(contentsOf: run.appendingPathComponent("split.csv"), encoding: .utf8)
        var partOf: [String: String] = [:]
        for line in split.split(separator: "\n").dropFirst() {
            let f = line.split(separator: ",")
            XCTAssertEqual(partOf.updateValue(String(f[3]), forKey: String(f[1])) ?? String(f[3]), String(f[3]))
        }

        // Evaluate the model on the whole folder.
        let metricsOut = work.appendingPathComponent("eval/metrics.json").path
        let evaluate = try CLI.run(["evaluate", "--model", run.appendingPathComponent("model").path, "--data", data.path,
                                         "--out", metricsOut])
        XCTAssertEqual(evaluate.status, 0, evaluate.stderr)
        let evaluated = try JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: metricsOut))) as! [String: Any]
        // The folder holds the model's training pictures: the headline leaves them out, and
        // all_pictures keeps the figures over all 24.
        let overlap = (evaluated["overlap"] as? [String: Any])?["n_images"] as? Int
        XCTAssertEqual(overlap, try String(contentsOf: run.appendingPathComponent("split.csv"), encoding: .utf8)
            .split(separator: "\n").filter { $0.hasSuffix(",train") }.count)
        XCTAssertEqual((evaluated["n_images"] as? Int).map { $0 + (overlap ?? 0) }, 24)
        XCTAssertEqual((evaluated["all_pictures"] as? [String: Any])?["n_images"] as? Int, 24)
        XCTAssertNil(evaluated["epochs"])
        XCTAssertTrue(FileManager.default.fileExists(atPath: work.appendingPathComponent("eval/metrics-predictions.csv").path))

        // Predict with a heatmap; a bad file fails with a line naming it.
        let image = try FileManager.default.contentsOfDirectory(atPath: data.appendingPathComponent("OTHER").path)
            .first { $0.hasSuffix(".jpg") || $0.hasSuffix(".jpeg") }!
        let imagePath = data.appendingPathComponent("OTHER/\(image)").path
        let heatmaps = work.appendingPathComponent("heatmaps")
        let predict = try CLI.run(["predict", "--model", run.appendingPathComponent("model").path, "--json",
                                        "--heatmap", heatmaps.path, imagePath])
        XCTAssertEqual(predict.status, 0, predict.stderr)
        let answer = try JSONSerialization.jsonObject(with: Data(predict.stdout.utf8)) as! [String: Any]
        let first = try XCTUnwrap((answer["predictions"] as? [[String: Any]])?.first)
        let probabilities = try XCTUnwrap(first["probabilities"] as? [String: Double])
        XCTAssertEqual(probabilities.values.reduce(0, +), 1, accuracy: 1e-4)
        let png = try Data(contentsOf: URL(fileURLWithPath: try XCTUnwrap(first["heatmap"] as? String)))
        XCTAssertEqual(Array(png.prefix(4)), [0x89, 0x50, 0x4E, 0x47])
        // The heatmap's single pass gives the probabilities a plain prediction gives.
        let plain = try CLI.run(["predict", "--model", run.appendingPathComponent("model").path, "--json", imagePath])
        let plainFirst = try XCTUnwrap(((try JSONSerialization.jsonObject(with: Data(plain.stdout.utf8)) as? [String: Any])?["predictions"]
                                        as? [[String: Any]])?.first)
        for (c, p) in try XCTUnwrap(plainFirst["probabilities"] as? [String: Double]) {
            XCTAssertEqual(probabilities[c] ?? -1, p, accuracy: 1e-5, c)
        }
        let badHeatmap = try CLI.run(["predict", "--model", run.appendingPathComponent("model").path, "--heatmap", heatmaps.path,
                                      data.appendingPathComponent("OTHER/broken.png").path])
        XCTAssertEqual(badHeatmap.status, 1)
        XCTAssertTrue(badHeatmap.stderr.contains("broken.png: not a PNG or JPEG"), badHeatmap.stderr)
        let bad = try CLI.run(["predict", "--model", run.appendingPathComponent("model").path,
                                    data.appendingPathComponent("OTHER/broken.png").path])
        XCTAssertNotEqual(bad.status, 0)
        XCTAssertTrue(bad.stderr.contains("broken.png: not a PNG or JPEG"), bad.stderr)

        let inspect = try CLI.run(["dataset", "inspect", "--data", data.path])
        XCTAssertEqual(inspect.status, 0, inspect.stderr)
        XCTAssertTrue(inspect.stdout.contains("each image is its own group"))
        XCTAssertTrue(inspect.stdout.contains("broken.png: not an image file") || inspect.stdout.contains("broken.png: unreadable image"),
                      inspect.stdout)
    }

    /// `--method finetune`: a two-member ensemble for one epoch; the bundle holds each member,
    /// metrics.json says how it was trained, and predict, evaluate and the ONNX, TF.js and Keras
    /// exports read it.
    func testFineTuneTrainPredictEvaluate() throws {
        let data = try makeDataset()
        let run = work.appendingPathComponent("run")
        let train = try CLI.run(["train", "--method", "finetune", "--ensemble", "2", "--epochs", "1", "--batch-size", "8",
                                 "--data", data.path, "--out", run.path, "--folds", "1", "--split", "60/20/20", "--equalize", "clahe"])
        XCTAssertEqual(train.status, 0, train.stderr)
        XCTAssertTrue(train.stderr.contains("fine-tuning: features.14-18"), train.stderr)
        for name in ["model/member-0.safetensors", "model/member-1.safetensors", "report.html", "predictions.csv"] {
            XCTAssertTrue(FileManager.default.fileExists(atPath: run.appendingPathComponent(name).path), name)
        }
        XCTAssertFalse(FileManager.default.fileExists(atPath: run.appendingPathComponent("model/head.safetensors").path))
        let metrics = try JSONSerialization.jsonObject(with: Data(contentsOf: run.appendingPathComponent("metrics.json"))) as! [String: Any]
        XCTAssertEqual(metrics["method"] as? String, "finetune")
        XCTAssertEqual(metrics["ensemble"] as? Int, 2)
        XCTAssertEqual(metrics["unfreeze"] as? Int, 5)
        XCTAssertEqual(metrics["epochs_run"] as? Int, 1)
        XCTAssertNotNil(metrics["n_train_images"] as? Int)
        XCTAssertEqual(Set((metrics["timings"] as? [String: Double])?.keys ?? [:].keys), ["load", "prepare", "train", "evaluate", "report"])
        // The operating point, chosen on the validation split, and the argmax figures beside it.
        let threshold = try XCTUnwrap(metrics["threshold"] as? Double)
        let manifestJSON = try JSONSerialization.jsonObject(with: Data(contentsOf: run.appendingPathComponent("model/lightbox-model.json"))) as! [String: Any]
        let point = try XCTUnwrap(manifestJSON["operating_point"] as? [String: Any], "\(manifestJSON)")
        XCTAssertEqual(point["threshold"] as? Double, threshold)
        XCTAssertEqual(point["positive_class"] as? String, "COVID-19")
        XCTAssertEqual((metrics["at_argmax"] as? [String: Any])?["threshold"] as? Double, 0.5)
        XCTAssertNotNil(metrics["brier"] as? Double)
        XCTAssertEqual((metrics["calibration"] as? [Any])?.count, 10)
        XCTAssertEqual((manifestJSON["preprocessing"] as? [String: Any])?["equalize"] as? String, "clahe")

        let model = run.appendingPathComponent("model").path
        let folder = data.appendingPathComponent("COVID-19")
        let images = try FileManager.default.contentsOfDirectory(atPath: folder.path).sorted().map { folder.appendingPathComponent($0).path }
        let predict = try CLI.run(["predict", "--model", model, "--json"] + images)
        XCTAssertEqual(predict.status, 0, predict.stderr)
        let answer = try JSONSerialization.jsonObject(with: Data(predict.stdout.utf8)) as! [String: Any]
        let predictions = try XCTUnwrap(answer["predictions"] as? [[String: Any]])
        XCTAssertEqual(predictions.count, 12)
        XCTAssertEqual((answer["operating_point"] as? [String: Any])?["threshold"] as? Double, threshold)
        for p in predictions {
            let probabilities = try XCTUnwrap(p["probabilities"] as? [String: Double])
            XCTAssertEqual(probabilities.values.reduce(0, +), 1, accuracy: 1e-4)
            // The predicted class follows the operating point, not argmax.
            XCTAssertEqual(p["predicted"] as? String, probabilities["COVID-19"]! >= threshold ? "COVID-19" : "OTHER")
        }
        let evaluate = try CLI.run(["evaluate", "--model", model, "--data", data.path, "--out", work.appendingPathComponent("e.json").path])
        XCTAssertEqual(evaluate.status, 0, evaluate.stderr)
        // A zip of the model folder (as the Studio's download is: the folder inside) is taken by
        // predict, evaluate and export, with the same answers; a zip without a model is refused.
        let zip = work.appendingPathComponent("model.zip")
        try FileManager.default.zipItem(at: URL(fileURLWithPath: model), to: zip, shouldKeepParent: true)
        let zipped = try CLI.run(["predict", "--model", zip.path, "--json"] + images)
        XCTAssertEqual(zipped.status, 0, zipped.stderr)
        let fromZip = try JSONSerialization.jsonObject(with: Data(zipped.stdout.utf8)) as! [String: Any]
        XCTAssertEqual(fromZip["model"] as? String, zip.path)
        XCTAssertEqual(try JSONSerialization.data(withJSONObject: fromZip["predictions"]!, options: .sortedKeys),
                       try JSONSerialization.data(withJSONObject: answer["predictions"]!, options: .sortedKeys))
        let zippedEvaluate = try CLI.run(["evaluate", "--model", zip.path, "--data", data.path, "--out", work.appendingPathComponent("z.json").path])
        XCTAssertEqual(zippedEvaluate.status, 0, zippedEvaluate.stderr)
        XCTAssertEqual(try Data(contentsOf: work.appendingPathComponent("z.json")).count,
                       try Data(contentsOf: work.appendingPathComponent("e.json")).count)
        let zippedExport = try CLI.run(["export", "--model", zip.path, "--format", "onnx", "--out", work.appendingPathComponent("z.onnx").path])
        XCTAssertEqual(zippedExport.status, 0, zippedExport.stderr)
        let notAModel = work.appendingPathComponent("other.zip")
        try FileManager.default.zipItem(at: URL(fileURLWithPath: images[0]), to: notAModel)
        let notRead = try CLI.run(["predict", "--model", notAModel.path, images[0]])
        XCTAssertNotEqual(notRead.status, 0)
        XCTAssertTrue(notRead.stderr.contains(notAModel.path), notRead.stderr)
        // Heatmaps: Grad-CAM through each member's own last feature map and head.
        let heatmaps = work.appendingPathComponent("heatmaps")
        let withHeatmap = try CLI.run(["predict", "--model", model, "--json", "--heatmap", heatmaps.path, images[0]])
        XCTAssertEqual(withHeatmap.status, 0, withHeatmap.stderr)
        let first = try XCTUnwrap(((try JSONSerialization.jsonObject(with: Data(withHeatmap.stdout.utf8)) as? [String: Any])?["predictions"]
                                   as? [[String: Any]])?.first)
        let png = try Data(contentsOf: URL(fileURLWithPath: try XCTUnwrap(first["heatmap"] as? String)))
        XCTAssertEqual(Array(png.prefix(4)), [0x89, 0x50, 0x4E, 0x47])
        let report = try String(contentsOf: run.appendingPathComponent("report.html"), encoding: .utf8)
        XCTAssertTrue(report.contains("data:image/png;base64,"), "heatmaps of the worst mistakes in the report")
        XCTAssertTrue(report.contains("Operating point") && report.contains("Brier score"), "operating point and calibration in the report")

        let onnx = try CLI.run(["export", "--format", "onnx", "--model", model, "--out", work.appendingPathComponent("m.onnx").path])
        XCTAssertEqual(onnx.status, 0, onnx.stderr)  // checked against ONNX Runtime in ONNXExportTests
        // CLAHE is not in the graph: the export says so and records it in the model's metadata.
        XCTAssertTrue(onnx.stderr.contains("contrast-equalised pictures (clahe)"), onnx.stderr)
        XCTAssertNotNil(try Data(contentsOf: work.appendingPathComponent("m.onnx")).range(of: Data("preprocessing_outside_model".utf8)))
        // TF.js and Keras .h5: one functional Keras model each (checked in Keras in RealKerasTests).
        let tfjs = try CLI.run(["export", "--format", "tfjs", "--model", model, "--out", work.appendingPathComponent("tfjs").path])
        XCTAssertEqual(tfjs.status, 0, tfjs.stderr)
        XCTAssertTrue(FileManager.default.fileExists(atPath: work.appendingPathComponent("tfjs/model.json").path))
        let keras = try CLI.run(["export", "--format", "keras", "--model", model, "--out", work.appendingPathComponent("keras").path])
        XCTAssertEqual(keras.status, 0, keras.stderr)
        XCTAssertTrue(FileManager.default.fileExists(atPath: work.appendingPathComponent("keras/keras_model.h5").path))
        let refused = try CLI.run(["train", "--method", "finetune", "--balance", "oversample", "--data", data.path,
                                   "--out", work.appendingPathComponent("r").path])
        XCTAssertEqual(refused.status, 64, refused.stderr)
        XCTAssertTrue(refused.stderr.contains("--method head"), refused.stderr)
        let ignored = try CLI.run(["train", "--method", "finetune", "--learning-rate", "0.01", "--data", data.path,
                                   "--out", work.appendingPathComponent("r").path])
        XCTAssertEqual(ignored.status, 64, "a head-only option is refused, not ignored: \(ignored.stderr)")
        XCTAssertTrue(ignored.stderr.contains("--learning-rate"), ignored.stderr)

        // An edited manifest whose input size is not the network's: an error naming it, no crash.
        let manifest = run.appendingPathComponent("model/lightbox-model.json")
        let edited = try String(contentsOf: manifest, encoding: .utf8).replacingOccurrences(of: "\"size\" : 224", with: "\"size\" : 256")
        XCTAssertTrue(edited.contains("256"), edited)
        try edited.write(to: manifest, atomically: true, encoding: .utf8)
        let damaged = try CLI.run(["predict", "--model", model, images[0]])
        XCTAssertNotEqual(damaged.status, 0)
        XCTAssertTrue(damaged.stderr.contains("preprocessing size 256"), damaged.stderr)
    }

    func testTrainingIsDeterministic() throws {
        let data = try makeDataset()
        var heads: [Data] = []
        for n in 0..<2 {
            let run = work.appendingPathComponent("run\(n)")
            let r = try CLI.run(["train", "--method", "head", "--folds", "1", "--data", data.path, "--out", run.path, "--epochs", "3",
                                 "--seed", "7", "--augment-copies", "1"])
            XCTAssertEqual(r.status, 0, r.stderr)
            heads.append(try Data(contentsOf: run.appendingPathComponent("model/head.safetensors")))
        }
        XCTAssertEqual(heads[0], heads[1], "same data, same seed: the same model")
    }

    /// `--method head --ensemble 3` trains three heads (seeds 7, 8, 9; the first is the single
    /// head of the same seed, bit for bit), saves them in one bundle and predicts their mean.
    func testHeadEnsembleTrainsEveryMemberAndPredictsTheirMean() throws {
        let data = try makeDataset()
        func train(_ extra: [String], _ name: String) throws -> URL {
            let run = work.appendingPathComponent(name)
            let r = try CLI.run(["train", "--method", "head", "--folds", "1", "--data", data.path, "--out", run.path, "--epochs", "3",
                                 "--seed", "7"] + extra)
            XCTAssertEqual(r.status, 0, r.stderr)
            return run
        }
        let ensemble = try train(["--ensemble", "3"], "ensemble"), single = try train([], "single")
        let model = ensemble.appendingPathComponent("model")
        let files = try FileManager.default.contentsOfDirectory(atPath: model.path).filter { $0.hasSuffix(".safetensors") }.sorted()
        XCTAssertEqual(files, ["head-0.safetensors", "head-1.safetensors", "head-2.safetensors"])
        XCTAssertEqual(try Data(contentsOf: model.appendingPathComponent("head-0.safetensors")),
                       try Data(contentsOf: single.appendingPathComponent("model/head.safetensors")), "member 0 is the single head")
        XCTAssertNotEqual(try Data(contentsOf: model.appendingPathComponent("head-0.safetensors")),
                          try Data(contentsOf: model.appendingPathComponent("head-1.safetensors")))
        let metrics = try JSONSerialization.jsonObject(with: Data(contentsOf: ensemble.appendingPathComponent("metrics.json"))) as! [String: Any]
        XCTAssertEqual(metrics["ensemble"] as? Int, 3)
        XCTAssertEqual(metrics["method"] as? String, "head")

        // predict gives the mean of the three members, each predicted as a one-head bundle of its own.
        let picture = try FileManager.default.contentsOfDirectory(atPath: data.appendingPathComponent("COVID-19").path).sorted()[0]
        let path = data.appendingPathComponent("COVID-19/\(picture)").path
        func probabilities(_ model: URL) throws -> [Double] {
            let r = try CLI.run(["predict", "--model", model.path, "--json", path])
            XCTAssertEqual(r.status, 0, r.stderr)
            let document = try JSONSerialization.jsonObject(with: Data(r.stdout.utf8)) as! [String: Any]
            let p = ((document["predictions"] as! [[String: Any]])[0]["probabilities"]) as! [String: Double]
            return ["COVID-19", "OTHER"].map { p[$0]! }
        }
        let manifest = try JSONSerialization.jsonObject(with: Data(contentsOf: model.appendingPathComponent("lightbox-model.json"))) as! [String: Any]
        var members: [[Double]] = []
        for m in 0..<3 {
            let one = work.appendingPathComponent("member\(m)")
            try FileManager.default.createDirectory(at: one, withIntermediateDirectories: true)
            var own = manifest
            var head = own["head"] as! [String: Any]
            head["weights"] = "head.safetensors"
            head.removeValue(forKey: "members")
            own["head"] = head
            own["format_version"] = 1
            // Each one-head bundle is written without the ensemble's record of its training pictures.
            own.removeValue(forKey: "training_digests")
            try JSONSerialization.data(withJSONObject: own).write(to: one.appendingPathComponent("lightbox-model.json"))
            try FileManager.default.copyItem(at: model.appendingPathComponent("head-\(m).safetensors"), to: one.appendingPathComponent("head.safetensors"))
            members.append(try probabilities(one))
        }
        let mean = (0..<2).map { c in members.map { $0[c] }.reduce(0, +) / 3 }
        for (a, b) in zip(try probabilities(model), mean) { XCTAssertEqual(a, b, accuracy: 1e-6) }
        XCTAssertGreaterThan(Set(members.map { $0[0] }).count, 1, "the members differ, so the mean means something")
    }

    func testMissingDataIsOneClearLine() throws {
        let r = try CLI.run(["train", "--method", "head", "--data", work.appendingPathComponent("nowhere").path, "--out", work.appendingPathComponent("r").path])
        XCTAssertNotEqual(r.status, 0)
        XCTAssertEqual(r.stderr.split(separator: "\n").count, 1, r.stderr)
        XCTAssertTrue(r.stderr.contains("nowhere"), r.stderr)
    }
}

/// Teachable Machine interop from the command line.
final class InteropCommandTests: XCTestCase {
    static let export = CLI.shared.appendingPathComponent("models/teachable-machine-image")

    func testPredictWithATeachableMachineExport() throws {
        let image = Self.export.appendingPathComponent("training-images/Class 2/4.png").path
        let r = try CLI.run(["predict", "--model", Self.export.path, image])
        XCTAssertEqual(r.status, 0, r.stderr)
        XCTAssertTrue(r.stdout.contains(": Class 2"), r.stdout)
    }

    func testTrainOnTheTeachableMachineBackboneThenExport() throws {
        let work = FileManager.default.temporaryDirectory.appendingPathComponent("lightbox-tm-\(UUID().uuidString)")
        defer { try? FileManager.default.removeItem(at: work) }
        let run = work.appendingPathComponent("run")
        // The export's own training images, as two class folders.
        let r = try CLI.run(["train", "--method", "head", "--data", Self.export.appendingPathComponent("training-images").path, "--out", run.path,
                             "--epochs", "5", "--backbone", "tm:\(Self.export.path)", "--folds", "1", "--split", "60/20/20"])
        XCTAssertEqual(r.status, 0, r.stderr)
        XCTAssertTrue(FileManager.default.fileExists(atPath: run.appendingPathComponent("model/backbone/weights.bin").path),
                      "the bundle carries its backbone")
        let image = Self.export.appendingPathComponent("training-images/Class 1/2.png").path
        let p = try CLI.run(["predict", "--model", run.appendingPathComponent("model").path, image])
        XCTAssertEqual(p.status, 0, p.stderr)
        // That model round-trips through TF.js too, and exports to ONNX.
        let tmExport = work.appendingPathComponent("tm-tfjs")
        XCTAssertEqual(try CLI.run(["export", "--model", run.appendingPathComponent("model").path, "--format", "tfjs",
                                    "--out", tmExport.path]).status, 0)
        let back = try CLI.run(["predict", "--model", tmExport.path, image])
        XCTAssertEqual(back.stdout.split(separator: " ").dropFirst().first, p.stdout.split(separator: " ").dropFirst().first)
        let onnx = work.appendingPathComponent("tm.onnx")
        XCTAssertEqual(try CLI.run(["export", "--model", run.appendingPathComponent("model").path, "--format", "onnx",
                                    "--out", onnx.path]).status, 0)
        XCTAssertGreaterThan((try? Data(contentsOf: onnx).count) ?? 0, 1_000_000)

        // A model on the default backbone exports to TF.js and reads back.
        let run2 = work.appendingPathComponent("run2")
        XCTAssertEqual(try CLI.run(["train", "--method", "head", "--data", Self.export.appendingPathComponent("training-images").path,
                                    "--out", run2.path, "--epochs", "3", "--folds", "1", "--split", "60/20/20"]).status, 0)
        let tfjs = work.appendingPathComponent("tfjs")
        let e = try CLI.run(["export", "--model", run2.appendingPathComponent("model").path, "--format", "tfjs", "--out", tfjs.path])
        XCTAssertEqual(e.status, 0, e.stderr)
        for name in ["model.json", "weights.bin", "metadata.json"] {
            XCTAssertTrue(FileManager.default.fileExists(atPath: tfjs.appendingPathComponent(name).path), name)
        }
        let a = try CLI.run(["predict", "--json", "--model", run2.appendingPathComponent("model").path, image])
        let b = try CLI.run(["predict", "--json", "--model", tfjs.path, image])
        func probabilities(_ out: String) throws -> [String: Double] {
            let o = try JSONSerialization.jsonObject(with: Data(out.utf8)) as! [String: Any]
            return ((o["predictions"] as! [[String: Any]])[0]["probabilities"] as! [String: Double])
        }
        let pa = try probabilities(a.stdout), pb = try probabilities(b.stdout)
        for (k, v) in pa { XCTAssertEqual(v, pb[k]!, accuracy: 1e-5) }
    }
}
