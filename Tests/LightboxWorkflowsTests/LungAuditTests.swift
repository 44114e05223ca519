import Foundation
import LightboxCore
import LightboxImaging
import LightboxModels
import LightboxTestSupport
import XCTest
@testable import LightboxWorkflows

/// The shortcut audit over each picture's own lungs (issue 28): the heatmap mass inside a box,
/// and the blanking placed where the locator finds the lungs, not in the middle of the input.
final class LungAuditTests: TemporaryFolderTestCase {
    /// Each cell counts with the share of its area inside the box: by hand on a 2 x 2 map.
    func testHeatmapMassWeighsEachCellByItsOverlap() throws {
        // Cells (x, y): (0,0) = 1, (1,0) = 0, (0,1) = 0, (1,1) = 3; total 4.
        let cam: [Float] = [1, 0, 0, 3]
        // x 0.25-1, y 0.5-1: half of cell (0,1) (mass 0) and all of cell (1,1) (mass 3): 3/4.
        XCTAssertEqual(try XCTUnwrap(HeatmapMass.share(cam: cam, side: 2, box: LungBox(x0: 0.25, y0: 0.5, x1: 1, y1: 1))), 0.75, accuracy: 1e-12)
        // x 0-0.75, y 0-0.75: all of (0,0) (1), a quarter of (1,1) (0.75): 1.75/4.
        XCTAssertEqual(try XCTUnwrap(HeatmapMass.share(cam: cam, side: 2, box: LungBox(x0: 0, y0: 0, x1: 0.75, y1: 0.75))), 0.4375, accuracy: 1e-12)
        // x 0.1-0.4, y 0.1-0.3: 0.6 x 0.4 of cell (0,0): 0.24/4.
        XCTAssertEqual(try XCTUnwrap(HeatmapMass.share(cam: cam, side: 2, box: LungBox(x0: 0.1, y0: 0.1, x1: 0.4, y1: 0.3))), 0.06, accuracy: 1e-12)
        // An even map puts the box's area inside it (the baseline the audit reports).
        let even = [Float](repeating: 0.5, count: 49)
        XCTAssertEqual(try XCTUnwrap(HeatmapMass.share(cam: even, side: 7, box: .central)), LungBox.central.area, accuracy: 1e-12)
        XCTAssertEqual(try XCTUnwrap(HeatmapMass.share(cam: cam, side: 2, box: LungBox(x0: 0, y0: 0, x1: 1, y1: 1))), 1, accuracy: 1e-12)
        XCTAssertNil(HeatmapMass.share(cam: [0, 0, 0, 0], side: 2, box: .central), "no heatmap, no share")
    }

    /// The mean with its baseline and a patient interval around it.
    func testHeatmapMassSummary() throws {
        let pictures = [0.9, 0.7, 0.8, 0.6].map {
            ShortcutAudit.Picture(picture: "p", lungsBox: [0, 0, 1, 1], heatmapMassInLungs: $0, boxShareOfInput: 0.5)
        }
        let summary = try XCTUnwrap(HeatmapMass.summary(pictures, groups: ["a", "a", "b", "c"]))
        XCTAssertEqual(summary.mean, 0.75, accuracy: 1e-12)
        XCTAssertEqual(summary.baseline, 0.5, accuracy: 1e-12)
        XCTAssertEqual(summary.nImages, 4)
        let interval = try XCTUnwrap(summary.interval)
        XCTAssertLessThanOrEqual(interval[0], 0.75)
        XCTAssertGreaterThanOrEqual(interval[1], 0.75)
        XCTAssertGreaterThan(interval[0], 0.5)
        XCTAssertTrue(summary.text.contains("75%") && summary.text.contains("50%"), summary.text)
        XCTAssertTrue(summary.text.contains("25 points more"), summary.text)
        // Two points over an even spread is said as little more, not as looking at the lungs.
        let close = [0.72, 0.71, 0.73, 0.72].map {
            ShortcutAudit.Picture(picture: "p", lungsBox: [0, 0, 1, 1], heatmapMassInLungs: $0, boxShareOfInput: 0.70)
        }
        let little = try XCTUnwrap(HeatmapMass.summary(close, groups: ["a", "b", "c", "d"]))
        XCTAssertTrue(little.text.contains("little more than spreading evenly"), little.text)
        XCTAssertFalse(little.text.contains("gathers on the lungs"), little.text)
    }

    /// A real X-ray pasted into the right and bottom part of a black canvas: the audit blanks
    /// each picture's own box (plus the margin), wherever it lies: black over it, untouched over
    /// the part of the old central box outside it. Two boxes: the shipped locator's on the
    /// canvas (what the audit uses), and the locator's box of the X-ray alone moved to where the
    /// X-ray was pasted (off-centre). The shipped locator itself does not follow the pasted X-ray
    /// (its box on the canvas stays near the middle: x 0.16-0.84, y 0.15-0.77 of a canvas whose
    /// X-ray starts at 0.375), so this test does not ask it to.
    func testTheAuditBlanksEachPicturesPredictedLungs() throws {
        let source = TorchReference.shared.appendingPathComponent("data/covid-chestxray/images/000001-2.jpg")
        guard FileManager.default.fileExists(atPath: source.path) else {
            if ProcessInfo.processInfo.environment["CI"] != nil { XCTFail("no developer X-ray at \(source.path)") }
            throw XCTSkip("no developer X-ray at \(source.path)")
        }
        let decoder = ImageDecoder(maxPixels: LightboxSettings.defaultMaxPixels, dicomWindow: .first)
        let xray = try decoder.decode(file: source.path)
        // A canvas 1.6 times the X-ray's size, the X-ray in its bottom-right corner.
        let width = xray.width * 8 / 5, height = xray.height * 8 / 5
        let left = width - xray.width, top = height - xray.height
        var canvas = [UInt8](repeating: 0, count: width * height * 3)
        for y in 0..<xray.height {
            for x in 0..<xray.width {
                for c in 0..<3 { canvas[((y + top) * width + x + left) * 3 + c] = UInt8(max(0, min(255, xray[x, y, c].rounded()))) }
            }
        }
        let path = work.appendingPathComponent("off-centre.png").path
        try PNGEncoder.encode(rgb: canvas, width: width, height: height).write(to: URL(fileURLWithPath: path))

        let finder = try LungFinder.pretrained(settings: TestSettings.local, dicomWindow: .first)
        let onCanvas = try finder.locate(paths: [path])[0].get()
        XCTAssertEqual(onCanvas.width, width)
        // The X-ray's own box, moved to where it lies in the canvas.
        let alone = try finder.locate(paths: [source.path])[0].get().box
        func cx(_ f: Double) -> Double { (Double(left) + f * Double(xray.width)) / Double(width) }
        func cy(_ f: Double) -> Double { (Double(top) + f * Double(xray.height)) / Double(height) }
        var moved = onCanvas
        moved.box = LungBox(x0: cx(alone.x0), y0: cy(alone.y0), x1: cx(alone.x1), y1: cy(alone.y1))
        XCTAssertGreaterThan((moved.box.x0 + moved.box.x1) / 2, 0.6, "\(moved.box)")
        XCTAssertGreaterThan((moved.box.y0 + moved.box.y1) / 2, 0.6, "\(moved.box)")

        for (which, located) in [("locator on the canvas", onCanvas), ("moved off-centre", moved)] {
            // What the audit blanks: the box plus the margin, placed into the model's square.
            let boxes = ShortcutAudit.blankingBoxes([located])
            XCTAssertEqual(boxes[path], located.box.expanded(by: LungBox.margin))
            for policy in [ResizePolicy.crop, .pad] {
                let preprocessor = Preprocessor(size: 224, policy: policy)
                let embedder = ImageEmbedder(network: finder.features.network, preprocessor: preprocessor, decoder: decoder, threads: 1)
                let plain = try embedder.prepare([path]).tensor
                let hidden = try embedder.blanking(.centerBlanked, boxes: boxes).prepare([path]).tensor
                let only = try embedder.blanking(.outsideBlanked, boxes: boxes).prepare([path]).tensor
                XCTAssertEqual(plain.count, 224 * 224 * 3)
                var black = [Float](repeating: 0, count: 224 * 224 * 3)
                black.withUnsafeMutableBufferPointer {
                    preprocessor.writeNormalized(RGBImage(width: 224, height: 224, pixels: [Float](repeating: 0, count: 224 * 224 * 3)), to: $0.baseAddress!)
                }
                let square = preprocessor.inSquare(boxes[path]!, width: width, height: height)
                let (columns, rows) = square.pixelSpans(width: 224, height: 224)
                let (centralColumns, centralRows) = LungBox.central.pixelSpans(width: 224, height: 224)
                var blackened = 0, kept = 0, brightKept = 0, wrong = 0
                for y in 0..<224 {
                    for x in 0..<224 {
                        let i = (y * 224 + x) * 3 + 1
                        if columns.contains(x) && rows.contains(y) {
                            if hidden[i] != black[i] || only[i] != plain[i] { wrong += 1 }
                            blackened += 1
                        } else {
                            if only[i] != black[i] { wrong += 1 }
                            if centralColumns.contains(x) && centralRows.contains(y) {
                                if hidden[i] != plain[i] { wrong += 1 }
                                kept += 1
                                if plain[i] != black[i] { brightKept += 1 }
                            }
                        }
                    }
                }
                XCTAssertEqual(wrong, 0, "\(which), \(policy): pixels blanked where the box is not, or kept where it is")
                XCTAssertGreaterThan(blackened, 60 * 60, "\(which), \(policy): the predicted lungs cover a good part of the square")
                if which == "moved off-centre" {
                    XCTAssertGreaterThan(kept, 40 * 40, "\(policy): much of the central box lies outside the off-centre lungs")
                    XCTAssertGreaterThan(brightKept, 100, "\(policy): the central box outside the lungs holds X-ray, untouched")
                }
            }
        }
    }
}
