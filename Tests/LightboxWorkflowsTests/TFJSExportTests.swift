import Foundation
import LightboxTestSupport
import XCTest
import LightboxImaging
import LightboxModels
@testable import LightboxWorkflows
@testable import LightboxInterop
@testable import LightboxHead

/// A Lightbox model exported to TF.js and read back predicts the same (within 1e-5), and its
/// model.json follows Teachable Machine's schema (same layer class names and config keys).
final class TFJSExportTests: TemporaryFolderTestCase {
    func bundle() throws -> ModelBundle { try InteropFixtures.bundle() }
    func images() -> [String] { InteropFixtures.images() }

    func testRoundTripPredictsTheSame() throws {
        let model = work.appendingPathComponent("model")
        try bundle().write(to: model.path)
        let export = work.appendingPathComponent("tfjs")
        try TFJSExporter.export(try ModelBundle.read(from: model.path), to: export.path, weightsFolder: TestSettings.weightsFolder)

        let original = try Predictor(model: model.path, settings: TestSettings.local).predict(images())
        let roundTrip = try Predictor(model: export.path, settings: TestSettings.local).predict(images())
        var worst: Float = 0
        for (a, b) in zip(original, roundTrip) {
            let pa = try a.get(), pb = try b.get()
            XCTAssertEqual(pa.predicted, pb.predicted)
            for (x, y) in zip(pa.probabilities, pb.probabilities) { worst = max(worst, abs(x - y)) }
        }
        XCTAssertLessThan(worst, 1e-5)
        let metadata = try JSONSerialization.jsonObject(with: Data(contentsOf: export.appendingPathComponent("metadata.json"))) as! [String: Any]
        XCTAssertEqual(metadata["labels"] as? [String], ["COVID-19", "OTHER", "Third"])
    }

    /// Every weight in the manifest is "<layer>/<name>" with a name Keras gives that layer's class
    /// (KerasLayerWeights), and every layer has all of Keras's weights (bias only when it uses one).
    func testWeightNamesAreKerasOwn() throws {
        let model = work.appendingPathComponent("model")
        try bundle().write(to: model.path)
        let export = work.appendingPathComponent("tfjs")
        try TFJSExporter.export(try ModelBundle.read(from: model.path), to: export.path, weightsFolder: TestSettings.weightsFolder)
        let root = try JSONSerialization.jsonObject(with: Data(contentsOf: export.appendingPathComponent("model.json"))) as! [String: Any]
        let manifest = ((root["weightsManifest"] as! [[String: Any]])[0]["weights"] as! [[String: Any]]).map { $0["name"] as! String }
        var expected: [String] = []
        func walk(_ object: Any) {
            if let d = object as? [String: Any] {
                if let cls = d["class_name"] as? String, let config = d["config"] as? [String: Any], let name = config["name"] as? String,
                   let names = KerasLayerWeights.names(ofClass: cls) {
                    let usesBias = config["use_bias"] as? Bool ?? true
                    expected += names.all.filter { usesBias || $0 != "bias" }.map { "\(name)/\($0)" }
                }
                d.values.forEach(walk)
            } else if let a = object as? [Any] {
                a.forEach(walk)
            }
        }
        walk(root["modelTopology"]!)
        XCTAssertEqual(Set(manifest), Set(expected))
        XCTAssertEqual(manifest.count, expected.count)
        XCTAssertTrue(manifest.contains("input_normalization/bias"), "a DepthwiseConv2D's bias is 'bias' in Keras")
    }

    func testSchemaMatchesTeachableMachines() throws {
        let model = work.appendingPathComponent("model")
        try bundle().write(to: model.path)
        let export = work.appendingPathComponent("tfjs")
        try TFJSExporter.export(try ModelBundle.read(from: model.path), to: export.path, weightsFolder: TestSettings.weightsFolder)

        func configKeys(_ url: URL) throws -> [String: Set<String>] {
            let root = try JSONSerialization.jsonObject(with: Data(contentsOf: url.appendingPathComponent("model.json"))) as! [String: Any]
            var keys: [String: Set<String>] = [:]
            func walk(_ object: Any) {
                if let d = object as? [String: Any] {
                    if let cls = d["class_name"] as? String, let config = d["config"] as? [String: Any], cls != "Model" {
                        keys[cls, default: []].formUnion(config.keys)
                    }
                    d.values.forEach(walk)
                } else if let a = object as? [Any] {
                    a.forEach(walk)
                }
            }
            walk(root)
            XCTAssertEqual(Set(root.keys), ["modelTopology", "weightsManifest"])
            return keys
        }
        let ours = try configKeys(export), theirs = try configKeys(TeachableMachineTests.export)
        for (cls, keys) in ours where !["VarianceScaling", "Zeros", "Ones"].contains(cls) {
            XCTAssertEqual(keys, theirs[cls], "config keys of \(cls)")
        }
        XCTAssertEqual(Set(ours.keys).subtracting(["VarianceScaling", "Zeros", "Ones"]),
                       Set(theirs.keys).subtracting(["VarianceScaling", "Zeros", "Ones"]), "the same layer classes")
    }
}

/// A model and X-rays shared by the export tests.
enum InteropFixtures {
    /// A bundle on the pretrained backbone with a seeded head scaled up so its outputs vary.
    static func bundle() throws -> ModelBundle {
        var head = DenseHead(inputs: 1280, hidden: 100, classes: 3, seed: 5)
        head.w1 = head.w1.map { $0 * 4 }
        head.b1 = (0..<100).map { Float($0 % 7) * 0.05 }
        let identity = ModelBundle.Backbone(id: PretrainedMobileNetV2.identifier,
                                            weightsSHA256: PretrainedMobileNetV2.installedDigest(in: TestSettings.weightsFolder) ?? "")
        return try ModelBundle(classes: ["COVID-19", "OTHER", "Third"], backbone: identity,
                               preprocessing: ModelBundle.Preprocessing(Preprocessor()), members: [DenseHeadMember(head)])
    }

    /// A fine-tuned ensemble of two seeded members on the same classes, heads scaled up so the
    /// members, and the classes, differ clearly.
    static func fineTunedBundle() throws -> ModelBundle {
        let fixture = try bundle()
        let members = try [1, 2].map { seed -> FineTunedMember in
            let member = try FineTuneMember(weights: try PretrainedMobileNetV2.load(from: TestSettings.weightsFolder), firstModule: 14, classes: fixture.classes.count,
                                            seed: UInt64(seed))
            var tensors = member.tensors
            tensors["head.weight"]!.values = tensors["head.weight"]!.values.map { $0 * 40 }
            return try FineTunedMember(store: NamedTensors(tensors, source: "fixture member \(seed)"), firstModule: 14,
                                       classes: fixture.classes.count)
        }
        return try ModelBundle(classes: fixture.classes, backbone: fixture.backbone, preprocessing: fixture.preprocessing,
                               members: members)
    }

    /// An ensemble of three dense heads (seeds 5-7, scaled up as `bundle`'s) on the pretrained backbone.
    static func headEnsembleBundle() throws -> ModelBundle {
        let fixture = try bundle()
        let members = [5, 6, 7].map { seed -> DenseHeadMember in
            var head = DenseHead(inputs: 1280, hidden: 100, classes: 3, seed: UInt64(seed))
            head.w1 = head.w1.map { $0 * 4 }
            head.b1 = (0..<100).map { Float(($0 + seed) % 7) * 0.05 }
            return DenseHeadMember(head)
        }
        return try ModelBundle(classes: fixture.classes, backbone: fixture.backbone, preprocessing: fixture.preprocessing, members: members)
    }

    static func images() -> [String] {
        let folder = TeachableMachineTests.export.deletingLastPathComponent().deletingLastPathComponent()
            .appendingPathComponent("data/covid-chestxray/images")
        return ["000001-2.jpg", "00870a9c.jpg", "tpmd200203f2-a.png", "000001-12.jpg"].map { folder.appendingPathComponent($0).path }
    }
}
