import Foundation
import LightboxCore
import LightboxImaging
import LightboxModels
import LightboxTestSupport
import XCTest
@testable import LightboxWorkflows
@testable import LightboxInterop
@testable import LightboxHead

/// Exports as their users load them: in real Keras (tf_keras 2 as tfjs-layers does it, and
/// Keras 3), from scripts/reference/keras_predict.py in the venv scripts/test.sh keeps
/// (TensorFlow's CPU wheel and tf_keras from PyPI). Every weight must match by Keras's own
/// names, and the probabilities must be `lightbox predict`'s within 1e-4 on real X-rays.
final class RealKerasTests: TemporaryFolderTestCase {
    /// A bundle on the Teachable Machine export's own backbone, with `head` (default: its own head).
    func teachableMachineBundle(head: DenseHead? = nil, classes: [String]? = nil) throws -> ModelBundle {
        let path = TeachableMachineTests.export.path
        let model = try TFJSLayersModel.load(path)
        let backbone = try Backbone.teachableMachine(model, policy: .crop, decoder: ImageDecoder(maxPixels: LightboxSettings.defaultMaxPixels, dicomWindow: .first), parallelism: TestSettings.local.threads, arithmetic: .fp32), files = model.files
        let tm = try TeachableMachineExport.load(path, settings: TestSettings.local, dicomWindow: .first)
        var bundle = try ModelBundle(classes: classes ?? tm.classes, backbone: ModelBundle.Backbone(backbone),
                                     preprocessing: ModelBundle.Preprocessing(backbone.embedder.preprocessor),
                                     members: [DenseHeadMember(head ?? tm.head)])
        bundle.backboneFiles = files
        return bundle
    }

    func testTFJSExportOfTheDefaultBackboneInKeras() throws {
        try check(try InteropFixtures.bundle(), "default")
    }

    func testTFJSExportOfATeachableMachineBackboneInKeras() throws {
        try check(try teachableMachineBundle(head: (try InteropFixtures.bundle().members[0] as! DenseHeadMember).dense, classes: ["COVID-19", "OTHER", "Third"]), "tm-backbone")
    }

    /// A fine-tuned ensemble of two members (heads scaled up so the classes differ clearly):
    /// the TF.js export and the Keras .h5 are one functional model whose Average layer gives
    /// `predict`'s probabilities in Keras 2 (tf_keras) and, for the .h5, Keras 3, within 1e-5.
    func testTFJSAndKerasExportsOfAFineTunedEnsembleInKeras() throws {
        try checkFunctional(try InteropFixtures.fineTunedBundle(), "finetuned")
    }

    /// An ensemble of three dense heads (`--method head --ensemble 3`), on the pretrained backbone
    /// and on a Teachable Machine backbone: one functional model (the backbone once, each head on
    /// the pooled embedding, an Average layer), in Keras 2 and, for the .h5, Keras 3.
    func testTFJSAndKerasExportsOfAHeadEnsembleInKeras() throws {
        let ensemble = try InteropFixtures.headEnsembleBundle()
        try checkFunctional(ensemble, "head-ensemble")
        let teachableMachine = try teachableMachineBundle()
        var onTeachableMachine = try ModelBundle(classes: ensemble.classes, backbone: teachableMachine.backbone,
                                                 preprocessing: teachableMachine.preprocessing, members: ensemble.members)
        onTeachableMachine.backboneFiles = teachableMachine.backboneFiles
        try checkFunctional(onTeachableMachine, "tm-head-ensemble")
    }

    /// A model exported as one functional model: TF.js in Keras 2, the .h5 in Keras 2 and 3, each
    /// within 1e-5 of `predict`, whose probabilities differ between classes.
    func checkFunctional(_ bundle: ModelBundle, _ name: String) throws {
        try check(bundle, name, tolerance: 1e-5)
        let spread = try Predictor(model: work.appendingPathComponent("\(name)-model").path, settings: TestSettings.local).predict(InteropFixtures.images())
            .map { let p = try $0.get().probabilities; return p.max()! - p.min()! }.max()!
        XCTAssertGreaterThan(spread, 0.1, "the probabilities differ between classes, so the comparison means something")
        // Keras's .h5: the same functional model, one weight group per layer, in Keras 2 and Keras 3.
        let model = work.appendingPathComponent("\(name)-model")
        let folder = work.appendingPathComponent("\(name)-keras")
        try KerasExporter.export(try ModelBundle.read(from: model.path), to: folder.path, weightsFolder: TestSettings.weightsFolder)
        let predictor = try Predictor(model: model.path, settings: TestSettings.local)
        let ours = try predictor.predict(InteropFixtures.images()).map { try $0.get().probabilities }
        for kind in ["h5-keras2", "h5-keras3"] {
            try KerasClient.compare(try KerasClient.predict(kind: kind, model: folder.appendingPathComponent("keras_model.h5"),
                                                            pixels: try KerasClient.pixels(predictor), work: work), ours, tolerance: 1e-5)
        }
    }

    /// A calibrated two-class model with an operating point: TF.js's metadata.json and the .h5's
    /// attributes record the temperature and the threshold, and the output of Keras 2 (TF.js, .h5)
    /// and Keras 3 (.h5) with the recorded temperature applied is `predict`'s calibrated
    /// probabilities, within 1e-4; without it, it is not.
    func testCalibratedExportsRecordTheTemperatureAndOperatingPoint() throws {
        let fixture = try InteropFixtures.bundle()
        var head = DenseHead(inputs: 1280, hidden: 100, classes: 2, seed: 5)
        head.w1 = head.w1.map { $0 * 4 }
        head.b1 = (0..<100).map { Float($0 % 7) * 0.05 }
        var bundle = try ModelBundle(classes: ["COVID-19", "OTHER"], backbone: fixture.backbone, preprocessing: fixture.preprocessing,
                                     members: [DenseHeadMember(head)])
        bundle.calibration = TemperatureScaling(temperature: 1.8)
        bundle.operatingPoint = OperatingPoint(positiveClass: "COVID-19", threshold: 0.3, targetSensitivity: 0.85, validationSensitivity: 0.9,
                                               validationSpecificity: 0.5)
        let model = work.appendingPathComponent("calibrated-model")
        try bundle.write(to: model.path)
        let tfjs = work.appendingPathComponent("calibrated-tfjs"), keras = work.appendingPathComponent("calibrated-keras")
        try TFJSExporter.export(try ModelBundle.read(from: model.path), to: tfjs.path, weightsFolder: TestSettings.weightsFolder)
        try KerasExporter.export(try ModelBundle.read(from: model.path), to: keras.path, weightsFolder: TestSettings.weightsFolder)

        let metadata = try JSONSerialization.jsonObject(with: Data(contentsOf: tfjs.appendingPathComponent("metadata.json"))) as! [String: Any]
        let user = try XCTUnwrap(metadata["userMetadata"] as? [String: Any])
        let calibration = try XCTUnwrap(user["calibration"] as? [String: Any])
        XCTAssertEqual(calibration["method"] as? String, "temperature")
        XCTAssertEqual(calibration["temperature"] as? Double, 1.8)
        XCTAssertEqual(calibration["in_graph"] as? Bool, false)
        XCTAssertEqual((user["operatingPoint"] as? [String: Any])?["threshold"] as? Double, 0.3)

        let predictor = try Predictor(model: model.path, settings: TestSettings.local)
        let ours = try predictor.predict(InteropFixtures.images()).map { try $0.get().probabilities }
        let pixels = try KerasClient.pixels(predictor)
        let raw = try KerasClient.predict(kind: "tfjs", model: tfjs, pixels: pixels, work: work)
        guard !raw.isEmpty else { return }
        let gap = zip(raw, ours).flatMap { zip($0, $1).map { abs($0 - $1) } }.max()!
        XCTAssertGreaterThan(gap, 0.01, "the export's own output is before the calibration, so the comparison below means something")
        for (kind, file) in [("tfjs", tfjs), ("h5-keras2", keras.appendingPathComponent("keras_model.h5")),
                             ("h5-keras3", keras.appendingPathComponent("keras_model.h5"))] {
            try KerasClient.compare(try KerasClient.predict(kind: kind, model: file, pixels: pixels, work: work, calibrated: true), ours)
            let read = try JSONSerialization.jsonObject(with: Data(contentsOf: work.appendingPathComponent("keras-\(kind).npy.metadata.json"))) as! [String: Any]
            XCTAssertEqual((read["calibration"] as? [String: Any])?["temperature"] as? Double, 1.8, kind)
            let point = try XCTUnwrap(read["operating_point"] as? [String: Any], kind)
            XCTAssertEqual(point["threshold"] as? Double, 0.3, kind)
            XCTAssertEqual((point["positive_class"] ?? point["positiveClass"]) as? String, "COVID-19", kind)
        }
    }

    func testTeachableMachinesOwnExportReExportedInKeras() throws {
        try check(try teachableMachineBundle(), "tm-own")
    }

    /// Teachable Machine's Keras download: keras_model.h5 loads with tf_keras (Keras 2) and Keras 3
    /// alike and predicts as Lightbox does; labels.txt is Teachable Machine's.
    func testKerasExportLoadsInKeras2AndKeras3() throws {
        for (name, bundle) in [("default", try InteropFixtures.bundle()),
                               ("tm-backbone", try teachableMachineBundle(head: (try InteropFixtures.bundle().members[0] as! DenseHeadMember).dense,
                                                                          classes: ["COVID-19", "OTHER", "Third"]))] {
            let model = work.appendingPathComponent("\(name)-model")
            try bundle.write(to: model.path)
            let folder = work.appendingPathComponent("\(name)-keras")
            try KerasExporter.export(try ModelBundle.read(from: model.path), to: folder.path, weightsFolder: TestSettings.weightsFolder)
            XCTAssertEqual(try String(contentsOf: folder.appendingPathComponent("labels.txt"), encoding: .utf8), "0 COVID-19\n1 OTHER\n2 Third\n")
            let h5 = folder.appendingPathComponent("keras_model.h5")
            XCTAssertEqual(Array(try Data(contentsOf: h5).prefix(8)), [0x89, 0x48, 0x44, 0x46, 0x0D, 0x0A, 0x1A, 0x0A], "an HDF5 file")
            let predictor = try Predictor(model: model.path, settings: TestSettings.local)
            let ours = try predictor.predict(InteropFixtures.images()).map { try $0.get().probabilities }
            let pixels = try KerasClient.pixels(predictor)
            for kind in ["h5-keras2", "h5-keras3"] {
                try KerasClient.compare(try KerasClient.predict(kind: kind, model: h5, pixels: pixels, work: work), ours)
            }
        }
        // OUT ending in .h5: that file, labels.txt beside it.
        let model = work.appendingPathComponent("default-model")
        let file = work.appendingPathComponent("out/mine.h5")
        try KerasExporter.export(try ModelBundle.read(from: model.path), to: file.path, weightsFolder: TestSettings.weightsFolder)
        XCTAssertTrue(FileManager.default.fileExists(atPath: file.path))
        XCTAssertTrue(FileManager.default.fileExists(atPath: work.appendingPathComponent("out/labels.txt").path))
    }

    /// Writes `bundle`, exports it to TF.js, and compares Keras with Lightbox.
    func check(_ bundle: ModelBundle, _ name: String, tolerance: Float = 1e-4) throws {
        let model = work.appendingPathComponent("\(name)-model")
        try bundle.write(to: model.path)
        let export = work.appendingPathComponent("\(name)-tfjs")
        try TFJSExporter.export(try ModelBundle.read(from: model.path), to: export.path, weightsFolder: TestSettings.weightsFolder)
        let predictor = try Predictor(model: model.path, settings: TestSettings.local)
        let keras = try KerasClient.predict(kind: "tfjs", model: export, pixels: try KerasClient.pixels(predictor), work: work)
        try KerasClient.compare(keras, try predictor.predict(InteropFixtures.images()).map { try $0.get().probabilities },
                                tolerance: tolerance)
    }
}

/// Runs scripts/reference/keras_predict.py with the test venv's Python.
enum KerasClient {
    static let repository = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
        .deletingLastPathComponent()

    /// `$LIGHTBOX_KERAS_PYTHON` (scripts/test.sh sets it), else the venv it makes.
    static var python: String {
        if let p = ProcessInfo.processInfo.environment["LIGHTBOX_KERAS_PYTHON"], !p.isEmpty { return p }
        return (TestSettings.local.home as NSString).appendingPathComponent("test-data/keras-venv/bin/python")
    }

    /// The images as Teachable Machine feeds its model: Lightbox's centre crop to 224, x / 127.5 - 1, NHWC.
    static func pixels(_ predictor: Predictor) throws -> (values: [Float], count: Int) {
        let p = predictor.preprocessor, decoder = predictor.decoder
        var values: [Float] = []
        let images = InteropFixtures.images()
        for path in images {
            let square = p.resized(try decoder.decode(file: path, reduceFor: p.decodeTarget))
            for y in 0..<p.size { for x in 0..<p.size { for c in 0..<3 { values.append(square[x, y, c] / 127.5 - 1) } } }
        }
        return (values, images.count)
    }

    /// Keras's probabilities; `calibrated`: with the temperature the export records applied, as
    /// its user applies it (keras_predict.py --calibrated, which also writes what it read to
    /// `keras-KIND.npy.metadata.json` in `work`).
    static func predict(kind: String, model: URL, pixels: (values: [Float], count: Int), work: URL, calibrated: Bool = false) throws -> [[Float]] {
        guard FileManager.default.isExecutableFile(atPath: python) else {
            // scripts/test.sh always makes it: in CI a missing venv is a failure, not a skip.
            if ProcessInfo.processInfo.environment["CI"] != nil { XCTFail("no Keras venv at \(python)"); return [] }
            throw XCTSkip("no Keras venv at \(python): scripts/test.sh makes it")
        }
        let input = work.appendingPathComponent("pixels.npy"), output = work.appendingPathComponent("keras-\(kind).npy")
        let size = Int(Double(pixels.values.count / pixels.count / 3).squareRoot())
        try NPYFile.encode(pixels.values, shape: [pixels.count, size, size, 3]).write(to: input)
        let (status, message) = try ReferenceScript.run(python, [repository.appendingPathComponent("scripts/reference/keras_predict.py").path,
                                                                 kind, model.path, input.path, output.path] + (calibrated ? ["--calibrated"] : []))
        guard status == 0 else {
            let lines = message.split(separator: "\n").filter { !$0.contains("cuda") && !$0.hasPrefix("WARNING: All log") }
            XCTFail("Keras (\(kind)) could not load or run \(model.lastPathComponent): \(lines.suffix(15).joined(separator: "\n"))")
            return []
        }
        let (values, shape) = try NPYFile.decode(try Data(contentsOf: output), source: output.path)
        return (0..<shape[0]).map { Array(values[($0 * shape[1])..<(($0 + 1) * shape[1])]) }
    }

    static func compare(_ keras: [[Float]], _ ours: [[Float]], tolerance: Float = 1e-4, file: StaticString = #filePath,
                        line: UInt = #line) throws {
        guard !keras.isEmpty else { return }
        XCTAssertEqual(keras.count, ours.count, file: file, line: line)
        var worst: Float = 0
        for (a, b) in zip(keras, ours) {
            XCTAssertEqual(a.count, b.count, file: file, line: line)
            for (x, y) in zip(a, b) { worst = max(worst, abs(x - y)) }
        }
        XCTAssertLessThan(worst, tolerance, "max |probability difference| Keras vs lightbox predict", file: file, line: line)
    }
}
