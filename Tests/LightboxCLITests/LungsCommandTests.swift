import Foundation
import LightboxCore
import LightboxImaging
import LightboxModels
import LightboxTestSupport
import XCTest

/// `lightbox lungs` and `lightbox lungs fit` as a user runs them.
final class LungsCommandTests: TemporaryFolderTestCase {
    let pictures = ["000001-2.jpg", "tpmd200203f2-a.png"].map { CLI.images.appendingPathComponent($0).path }

    func testLungsPrintsEachPicturesBoxInItsOwnPixelsAndDrawsOverlays() throws {
        let junk = work.appendingPathComponent("notes.jpg")
        try Data("not a picture".utf8).write(to: junk)
        let overlays = work.appendingPathComponent("overlays")
        // fp32, as the in-process finder below (the default is bf16 on a CPU with AVX-512 BF16).
        let run = try CLI.run(["lungs", "--json", "--precision", "fp32", "--overlay", overlays.path] + pictures + [junk.path])
        XCTAssertEqual(run.status, 1, "a picture that cannot be read fails the run")
        let errors = run.stderr.split(separator: "\n").filter { $0.hasPrefix("error:") }
        XCTAssertEqual(errors.count, 1, run.stderr)
        XCTAssertTrue(errors[0].contains(junk.path), run.stderr)

        let document = try XCTUnwrap(try JSONSerialization.jsonObject(with: Data(run.stdout.utf8)) as? [String: Any])
        XCTAssertNotNil(document["disclaimer"])
        let records = try XCTUnwrap(document["pictures"] as? [[String: Any]])
        XCTAssertEqual(records.map { $0["path"] as? String }, pictures)
        let decoder = ImageDecoder(maxPixels: 100_000_000, dicomWindow: .first)
        let finder = try LungFinder.pretrained(settings: TestSettings.local, dicomWindow: .first)
        let inProcess = try finder.locate(paths: pictures).map { try $0.get() }
        for (record, located) in zip(records, inProcess) {
            let path = try XCTUnwrap(record["path"] as? String)
            let image = try decoder.decode(file: path)
            XCTAssertEqual(record["width"] as? Int, image.width, path)
            XCTAssertEqual(record["height"] as? Int, image.height, path)
            let box = try XCTUnwrap(record["box"] as? [Double])
            XCTAssertEqual(box.count, 4)
            XCTAssertTrue(0 <= box[0] && box[0] < box[2] && box[2] <= Double(image.width), "\(box)")
            XCTAssertTrue(0 <= box[1] && box[1] < box[3] && box[3] <= Double(image.height), "\(box)")
            // The lungs of a chest X-ray: most of the picture, not all of it.
            let share = (box[2] - box[0]) * (box[3] - box[1]) / Double(image.width * image.height)
            XCTAssertTrue((0.3...0.95).contains(share), "\(path): box covers \(share) of the picture")
            // What the command prints is the library's answer, in pixels to 0.1.
            for (a, b) in zip(box, located.box.pixels(width: located.width, height: located.height)) {
                XCTAssertEqual(a, b, accuracy: 0.051)
            }
            let overlay = try XCTUnwrap(record["overlay"] as? String)
            let drawn = try decoder.decode(file: overlay)
            XCTAssertEqual(Double(drawn.width) / Double(drawn.height), Double(image.width) / Double(image.height), accuracy: 0.01)
            // The outline's colour at the middle of the box's top edge.
            let x = Int((box[0] + box[2]) / 2 / Double(image.width) * Double(drawn.width))
            let y = Int(box[1] / Double(image.height) * Double(drawn.height)) + 1
            XCTAssertEqual(drawn[x, min(y, drawn.height - 1), 2], 255, accuracy: 1, "\(overlay): no box drawn at its top edge")
        }

        let text = try CLI.run(["lungs", pictures[0]])
        XCTAssertEqual(text.status, 0, text.stderr)
        XCTAssertTrue(text.stdout.hasPrefix("\(pictures[0]): lungs ["), text.stdout)
    }

    /// `lungs fit` on a few annotated developer pictures writes a locator that `--locator` uses;
    /// a file that is not a locator is one error line.
    func testFitWritesALocatorThatLocateUses() throws {
        let boxes = CLI.shared.appendingPathComponent("data/covid-chestxray/annotations/lung-bounding-boxes.json")
        var coco = try XCTUnwrap(try JSONSerialization.jsonObject(with: Data(contentsOf: boxes)) as? [String: Any])
        let images = try XCTUnwrap(coco["images"] as? [[String: Any]]).prefix(12)
        let ids = Set(images.compactMap { $0["id"] as? Int })
        coco["images"] = Array(images)
        coco["annotations"] = try XCTUnwrap(coco["annotations"] as? [[String: Any]]).filter { ids.contains($0["image_id"] as? Int ?? -1) }
        let small = work.appendingPathComponent("boxes.json")
        try JSONSerialization.data(withJSONObject: coco).write(to: small)
        let locator = work.appendingPathComponent("mine.safetensors")
        let fit = try CLI.run(["lungs", "fit", "--boxes", small.path, "--images", CLI.images.path, "--out", locator.path, "--folds", "3"])
        XCTAssertEqual(fit.status, 0, fit.stderr)
        XCTAssertTrue(fit.stdout.contains("patient-grouped 3-fold IoU"), fit.stdout)
        let written = try LungLocator.read(from: locator.path)
        XCTAssertEqual(written.metadata["pictures"], "12")
        XCTAssertTrue(written.metadata["licence"]?.isEmpty == false)

        let mine = try CLI.run(["lungs", "--json", "--locator", locator.path, pictures[0]])
        let shipped = try CLI.run(["lungs", "--json", pictures[0]])
        XCTAssertEqual(mine.status, 0, mine.stderr)
        XCTAssertNotEqual(mine.stdout.replacingOccurrences(of: locator.path, with: "shipped"), shipped.stdout,
                          "a locator fitted on 12 pictures predicts another box than the shipped one")

        let broken = try CLI.run(["lungs", "--locator", small.path, pictures[0]])
        XCTAssertEqual(broken.status, 1)
        XCTAssertEqual(broken.stderr.split(separator: "\n").count, 1, broken.stderr)
        XCTAssertTrue(broken.stderr.contains(small.path), broken.stderr)
    }
}
