import Foundation
import LightboxCore
import LightboxImaging
import LightboxKernels
import LightboxModels
import LightboxTestSupport
import XCTest
@testable import LightboxHead
@testable import LightboxWorkflows

/// The lung locator on the developer data's annotated lung boxes, its ridge regression against
/// numpy, and the box's placement in the model's input against the preprocessing itself.
final class LungLocatorTests: TemporaryFolderTestCase {
    static let data = TorchReference.shared.appendingPathComponent("data/covid-chestxray")
    static let boxes = data.appendingPathComponent("annotations/lung-bounding-boxes.json").path

    func developerSamples() throws -> LungLocatorFit.Samples {
        guard FileManager.default.fileExists(atPath: Self.boxes) else { throw XCTSkip("no developer annotations at \(Self.boxes)") }
        let annotations = try LungAnnotations.read(Self.boxes, images: Self.data.appendingPathComponent("images").path)
        // The developer copy: 125 annotated pictures, one without a usable box (null coordinates).
        XCTAssertEqual(annotations.pictures.count, 124, "\(annotations.skipped)")
        let settings = TestSettings.local.with(arithmetic: .fp32)
        return try LungLocatorFit.samples(annotations, features: .pretrained(settings: settings, dicomWindow: .first),
                                          reporter: SilentReporter())
    }

    /// The check: nested patient-grouped 5-fold IoU at least 0.80 on the developer
    /// annotations (0.828 when written), and clearly above the mean box's (0.755).
    func testCrossValidatedIoUOnTheDeveloperAnnotationsIsAtLeast080AndBeatsTheMeanBox() throws {
        let samples = try developerSamples()
        let validation = try LungLocatorFit.crossValidate(samples, folds: 5, seed: 42)
        XCTAssertEqual(validation.iou.count, 124)
        XCTAssertGreaterThanOrEqual(validation.meanIoU, 0.80)
        XCTAssertGreaterThan(validation.meanIoU, validation.meanBoxMeanIoU + 0.03)
        // Another draw of the folds also holds (the figure is not one lucky split).
        XCTAssertGreaterThanOrEqual(try LungLocatorFit.crossValidate(samples, folds: 5, seed: 7).meanIoU, 0.80)

        // The shipped locator is what the committed fitting script writes from these boxes: a fit
        // here with its penalty predicts the same boxes (the feature maps' last bits depend on the
        // CPU's kernels, and neighbouring penalties score within 0.001 IoU of each other, so which one
        // cross-validation picks may differ from one CPU to another; it is one of the grid's).
        let shipped = try LungLocator.shipped()
        let penalty = try XCTUnwrap(shipped.metadata["penalty"].flatMap(Double.init))
        XCTAssertTrue(LungLocatorFit.penalties.contains(penalty))
        XCTAssertTrue(LungLocatorFit.penalties.contains(try LungLocatorFit.fit(samples).penalty))
        let refit = try LungLocatorFit.fit(samples, penalty: penalty).locator
        let a = shipped.squareBoxes(featureMaps: samples.maps, batch: 124), b = refit.squareBoxes(featureMaps: samples.maps, batch: 124)
        for (x, y) in zip(a, b) {
            XCTAssertEqual(x.x0, y.x0, accuracy: 1e-3); XCTAssertEqual(x.y1, y.y1, accuracy: 1e-3)
        }
        XCTAssertEqual(shipped.metadata["licence"]?.isEmpty, false)
        XCTAssertNotNil(shipped.metadata["cv_mean_iou"].flatMap(Double.init).map { XCTAssertGreaterThanOrEqual($0, 0.80) })
    }

    /// LungFinder's boxes against torch's (scripts/reference/lung_boxes_reference.py: the same
    /// locator file on torch's MobileNetV2, Pillow decoding, torch's resize): IoU at least 0.98
    /// and every corner within 1% of the picture's side, on developer pictures of several sizes
    /// and formats (JPEG decoding differs a little: Pillow's draft against libjpeg-turbo's scaling).
    func testBoxesMatchTorchsOnTheSameLocator() throws {
        let python = try TorchReference.requirePython()
        let names = ["000001-2.jpg", "000001-12.jpg", "tpmd200203f2-a.png", "10.1016-slash-j.crad.2020.04.002-b.png",
                     "1-s2.0-S1521661620303314-gr1_lrg-a.png", "00870a9c.jpg"]
        let paths = names.map { Self.data.appendingPathComponent("images/\($0)").path }
        guard paths.allSatisfy({ FileManager.default.fileExists(atPath: $0) }) else { throw XCTSkip("no developer pictures") }
        let locatorFile = work.appendingPathComponent("shipped.safetensors")
        try LungLocator.shipped().encoded().write(to: locatorFile)
        let out = work.appendingPathComponent("boxes.json")
        let (status, message) = try ReferenceScript.run(python, [TorchReference.script("lung_boxes_reference.py"), "--checkpoint",
            PretrainedMobileNetV2.checkpointPath(in: TestSettings.weightsFolder), "--locator", locatorFile.path, "--out", out.path] + paths)
        XCTAssertEqual(status, 0, message)
        let reference = try XCTUnwrap((try JSONSerialization.jsonObject(with: Data(contentsOf: out)) as? [String: Any])?["pictures"] as? [[String: Any]])
        let finder = try LungFinder.pretrained(settings: TestSettings.local.with(arithmetic: .fp32), dicomWindow: .first)
        for (mine, theirs) in zip(try finder.locate(paths: paths), reference) {
            let located = try mine.get()
            let w = try XCTUnwrap(theirs["width"] as? Int), h = try XCTUnwrap(theirs["height"] as? Int)
            XCTAssertEqual(located.width, w); XCTAssertEqual(located.height, h)
            let box = try XCTUnwrap(theirs["box"] as? [Double])
            let torchBox = LungBox(x0: box[0] / Double(w), y0: box[1] / Double(h), x1: box[2] / Double(w), y1: box[3] / Double(h))
            XCTAssertGreaterThanOrEqual(located.box.iou(torchBox), 0.98, located.path)
            for (a, b) in zip([located.box.x0, located.box.y0, located.box.x1, located.box.y1], [torchBox.x0, torchBox.y0, torchBox.x1, torchBox.y1]) {
                XCTAssertEqual(a, b, accuracy: 0.01, located.path)
            }
        }
    }

    /// RidgeRegression (dual, from the Gram matrix, with an intercept) against numpy's primal
    /// solution, with more features than samples (the locator's case) and fewer: predictions
    /// within 1e-8 relative.
    func testRidgeRegressionMatchesNumpysPrimalSolution() throws {
        let python = try TorchReference.requirePython()
        var generator = SeededGenerator(seed: 5)
        for (n, p) in [(30, 80), (40, 6)] {
            let x = (0..<(n * p)).map { _ in Float(generator.normal()) }
            let y = (0..<n).map { i in (0..<3).map { c in Double(x[i * p + c]) * 2 - Double(x[i * p + (c + 1) % p]) + generator.normal() * 0.1 } }
            let train = Array(0..<(n - 8)), test = Array((n - 8)..<n)
            for penalty in [0.01, 1.0] {
                let ridge = RidgeRegression(gram: Gram.of(x, rows: n, values: p), samples: n)
                let mine = ridge.predict(try ridge.fit(training: train, targets: y, penalty: penalty), rows: test)
                let spec = work.appendingPathComponent("ridge.json"), out = work.appendingPathComponent("out.json")
                let rows = (0..<n).map { i in (0..<p).map { Double(x[i * p + $0]) } }
                try JSONSerialization.data(withJSONObject: ["x": rows, "y": y, "train": train, "test": test, "penalty": penalty]).write(to: spec)
                let (status, message) = try ReferenceScript.run(python, [TorchReference.script("ridge_reference.py"), spec.path, out.path])
                XCTAssertEqual(status, 0, message)
                let reference = try XCTUnwrap((try JSONSerialization.jsonObject(with: Data(contentsOf: out)) as? [String: Any])?["predictions"] as? [[Double]])
                for (a, b) in zip(mine.joined(), reference.joined()) {
                    XCTAssertEqual(a, b, accuracy: 1e-8 * max(1, abs(b)), "n \(n) p \(p) penalty \(penalty)")
                }
            }
        }
    }

    /// A box of a picture lands in the input square where `Preprocessor.resized` puts those
    /// pixels, for every resize policy, within a pixel of the 224 square; and back.
    func testBoxPlacementInTheInputSquareFollowsThePreprocessing() {
        let box = LungBox(x0: 0.30, y0: 0.20, x1: 0.70, y1: 0.90)
        for (w, h) in [(400, 300), (300, 400), (333, 333), (640, 201)] {
            var pixels = [Float](repeating: 0, count: w * h * 3)
            let (columns, rows) = box.pixelSpans(width: w, height: h)
            for y in rows { for x in columns { for c in 0..<3 { pixels[(y * w + x) * 3 + c] = 255 } } }
            let picture = RGBImage(width: w, height: h, pixels: pixels)
            for policy in ResizePolicy.allCases {
                let p = Preprocessor(size: 224, policy: policy)
                let square = p.resized(picture)
                // The white region's bounds: pixels more than half white.
                var xs: [Int] = [], ys: [Int] = []
                for y in 0..<224 { for x in 0..<224 where square[x, y, 0] > 127.5 { xs.append(x); ys.append(y) } }
                let expected = p.inSquare(box, width: w, height: h)
                let where_ = "\(w)x\(h) \(policy)"
                XCTAssertEqual(Double(xs.min()!) / 224, expected.x0, accuracy: 1.5 / 224, where_)
                XCTAssertEqual(Double(xs.max()! + 1) / 224, expected.x1, accuracy: 1.5 / 224, where_)
                XCTAssertEqual(Double(ys.min()!) / 224, expected.y0, accuracy: 1.5 / 224, where_)
                XCTAssertEqual(Double(ys.max()! + 1) / 224, expected.y1, accuracy: 1.5 / 224, where_)
                if policy != .crop {  // a centre crop cuts the picture: only inside it is the inverse whole
                    let back = p.inPicture(expected, width: w, height: h)
                    XCTAssertEqual(back.iou(box), 1, accuracy: 1e-9, where_)
                }
            }
        }
    }

    func testBoxArithmetic() {
        let a = LungBox(x0: 0, y0: 0, x1: 0.5, y1: 1), b = LungBox(x0: 0.25, y0: 0, x1: 0.75, y1: 1)
        XCTAssertEqual(a.iou(b), 0.25 / 0.75, accuracy: 1e-12)
        XCTAssertEqual(a.iou(a), 1)
        let grown = LungBox(x0: 0.2, y0: 0.2, x1: 0.6, y1: 0.8).expanded(by: 0.05)
        for (v, e) in zip([grown.x0, grown.y0, grown.x1, grown.y1], [0.18, 0.17, 0.62, 0.83]) { XCTAssertEqual(v, e, accuracy: 1e-12) }
        XCTAssertEqual(LungBox(x0: -1, y0: .nan, x1: 2, y1: 0.5).clamped(), LungBox(x0: 0, y0: 0, x1: 1, y1: 0.5))
        XCTAssertEqual(LungBox(x0: 0.1, y0: 0.1, x1: 0.2, y1: 0.3).region(width: 100, height: 50),
                       Resampler.Region(x: 10, y: 5, width: 10, height: 10))
    }

    /// COCO files from elsewhere: null boxes and missing files are left out with a reason, a name
    /// leaving the images folder is refused, and a file that is not COCO is one clear error.
    func testAnnotationsFileRulesAndErrors() throws {
        let images = work.appendingPathComponent("images")
        try FileManager.default.createDirectory(at: images, withIntermediateDirectories: true)
        try Data([0xFF, 0xD8, 0xFF]).write(to: images.appendingPathComponent("a.jpg"))
        try Data([0xFF, 0xD8, 0xFF]).write(to: work.appendingPathComponent("outside.jpg"))
        let coco: [String: Any] = [
            "licenses": [["name": "CC BY-SA 4.0", "url": "https://creativecommons.org/licenses/by-sa/4.0/"]],
            "images": [["id": 1, "file_name": "a.jpg", "width": 100, "height": 200, "metadata": ["patientid": "7"]],
                       ["id": 2, "file_name": "../outside.jpg", "width": 100, "height": 100],
                       ["id": 3, "file_name": "missing.jpg", "width": 100, "height": 100],
                       ["id": 4, "file_name": "a.jpg", "width": 100, "height": 100]],
            "annotations": [["image_id": 1, "bbox": [10, 20, 30, 100]], ["image_id": 1, "bbox": [50, 30, 40, 120]],
                            ["image_id": 1, "bbox": [NSNull(), NSNull(), NSNull(), NSNull()]],
                            ["image_id": 2, "bbox": [0, 0, 10, 10]], ["image_id": 3, "bbox": [0, 0, 10, 10]],
                            ["image_id": 4, "bbox": [0, 0, 10, 10]]]]
        let file = work.appendingPathComponent("boxes.json")
        try JSONSerialization.data(withJSONObject: coco).write(to: file)
        let read = try LungAnnotations.read(file.path, images: images.path)
        XCTAssertEqual(read.pictures.count, 1)
        XCTAssertEqual(read.pictures[0].box, LungBox(x0: 0.1, y0: 0.1, x1: 0.9, y1: 0.75))
        XCTAssertEqual(read.pictures[0].group, "patient:7")
        XCTAssertEqual(read.skipped.count, 3, "\(read.skipped)")
        XCTAssertTrue(read.skipped.contains { $0.hasPrefix("../outside.jpg: outside") }, "\(read.skipped)")
        XCTAssertTrue(read.licence.contains("CC BY-SA 4.0"))

        try Data("[1, 2]".utf8).write(to: file)
        XCTAssertThrowsError(try LungAnnotations.read(file.path, images: images.path)) { error in
            XCTAssertTrue("\(error)".hasPrefix(file.path + ":"), "\(error)")
        }
    }

    /// A locator file that is not one, or not for this backbone, or damaged, is refused naming the file.
    func testBrokenLocatorFilesAreRefusedNamingTheFile() throws {
        let good = try LungLocator(weights: [Float](repeating: 0.5, count: 8), bias: [0.1, 0.1, 0.9, 0.9],
                                   backbone: PretrainedMobileNetV2.identifier, metadata: [:])
        let file = work.appendingPathComponent("l.safetensors")
        try good.encoded().write(to: file)
        XCTAssertEqual(try LungLocator.read(from: file.path).weights, good.weights)
        XCTAssertThrowsError(try LungLocator.read(from: file.path, featureCount: 62_720)) { XCTAssertTrue("\($0)".hasPrefix(file.path + ":"), "\($0)") }
        try SafeTensors.encode(["weights": Tensor(shape: [2, 4], values: [Float](repeating: 0, count: 8))],
                               metadata: ["format": LungLocator.fileFormat, "backbone": PretrainedMobileNetV2.identifier]).write(to: file)
        XCTAssertThrowsError(try LungLocator.read(from: file.path)) { XCTAssertTrue("\($0)".contains("bias"), "\($0)") }
        try SafeTensors.encode(["weights": Tensor(shape: [2, 4], values: [Float](repeating: .nan, count: 8)),
                                "bias": Tensor(shape: [4], values: [0, 0, 1, 1])],
                               metadata: ["format": LungLocator.fileFormat, "backbone": PretrainedMobileNetV2.identifier]).write(to: file)
        XCTAssertThrowsError(try LungLocator.read(from: file.path)) { XCTAssertTrue("\($0)".contains("finite"), "\($0)") }
        try SafeTensors.encode(["weights": Tensor(shape: [2, 4], values: [Float](repeating: 0, count: 8)),
                                "bias": Tensor(shape: [4], values: [0, 0, 1, 1])], metadata: ["format": "other"]).write(to: file)
        XCTAssertThrowsError(try LungLocator.read(from: file.path)) { XCTAssertTrue("\($0)".contains("not a Lightbox lung locator"), "\($0)") }
        try Data("junk".utf8).write(to: file)
        XCTAssertThrowsError(try LungLocator.read(from: file.path)) { XCTAssertTrue("\($0)".hasPrefix(file.path + ":"), "\($0)") }
        // A FIFO is refused at once, not read (which would block for ever).
        let fifo = work.appendingPathComponent("fifo.safetensors")
        XCTAssertEqual(mkfifo(fifo.path, 0o600), 0)
        XCTAssertThrowsError(try LungLocator.read(from: fifo.path)) { XCTAssertTrue("\($0)".hasPrefix(fifo.path + ":"), "\($0)") }
    }
}
