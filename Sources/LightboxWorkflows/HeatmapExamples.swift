import Foundation
import LightboxCore
import LightboxData
import LightboxHead
import LightboxImaging
import LightboxModels
import LightboxReport

public enum HeatmapExamples {
    /// The misclassified images (by the model's decision rule) that gave their true class the
    /// lowest probability (if none, the correct ones it was least sure of), up to `limit`, with
    /// `render(paths, targets)` drawing their overlays (`TrainedModel.explain`), captioned with
    /// their file names (or, under another `--identify-by`, the names `names` gives).
    public static func worstMisclassified(images: [LabeledImage], names: PictureNames, labels: [Int], probabilities: [Float], classes: [String],
                                          decision: DecisionRule, limit: Int,
                                          render: ([String], [Int]) throws -> [Data]) throws -> [HeatmapExample] {
        let k = classes.count
        let predicted = decision.predicted(probabilities, columns: k)
        let confidence = (0..<labels.count).map { probabilities[$0 * k + predicted[$0]] }
        let truth = (0..<labels.count).map { probabilities[$0 * k + labels[$0]] }
        var chosen = labels.indices.filter { predicted[$0] != labels[$0] }.sorted { truth[$0] < truth[$1] }
        if chosen.isEmpty { chosen = labels.indices.sorted { confidence[$0] < confidence[$1] } }
        let picked = Array(chosen.prefix(limit))
        let pngs = try render(picked.map { images[$0].path }, picked.map { predicted[$0] })
        return zip(picked, pngs).map { i, png in
            HeatmapExample(path: images[i].path, name: names.identity == .path ? images[i].displayName : names.name(images[i].path), label: images[i].label, predicted: classes[predicted[i]],
                           confidence: confidence[i], png: png)
        }
    }

    /// The model's input, un-normalised back to pixels, with the heatmap `cam` over it and, when
    /// given, the outline of `box` (the picture's predicted lungs, fractions of the square), as PNG.
    static func overlayPNG(input: ArraySlice<Float>, cam: [Float], side: Int, preprocessor p: Preprocessor, box: LungBox? = nil) throws -> Data {
        let pixels = input.enumerated().map { k, x -> Float in
            let c = k % 3
            return min(max((x * p.normalization.std[c] + p.normalization.mean[c]) * 255, 0), 255)
        }
        let square = RGBImage(width: p.size, height: p.size, pixels: pixels)
        let overlay = Heatmap.overlay(square, cam: cam, side: side, scale: 1)
        return try PNGEncoder.encode(box.map { $0.drawn(on: overlay) } ?? overlay)
    }
}
