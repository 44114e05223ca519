import Foundation
import LightboxCore
import LightboxData
import LightboxHead
import LightboxImaging
import LightboxModels
import LightboxReport

public enum HeatmapExamples {
    /// The misclassified images (by the model's decision rule) that gave their true class the
    /// lowest probability (if none, the correct ones it was least sure of), up to `limit`.
    public static func worstMisclassified(images: [LabeledImage], labels: [Int], probabilities: [Float], classes: [String],
                                          decision: DecisionRule, head: DenseHead, backbone: Backbone,
                                          limit: Int) throws -> [HeatmapExample] {
        try worstMisclassified(images: images, labels: labels, probabilities: probabilities, classes: classes, decision: decision,
                               limit: limit) {
            try render(paths: $0, targets: $1, head: head, backbone: backbone)
        }
    }

    /// The same, with `render(paths, targets)` drawing the overlays (any kind of model).
    public static func worstMisclassified(images: [LabeledImage], labels: [Int], probabilities: [Float], classes: [String],
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
            HeatmapExample(path: images[i].path, name: images[i].displayName, label: images[i].label, predicted: classes[predicted[i]],
                           confidence: confidence[i], png: png)
        }
    }

    /// Grad-CAM overlay PNGs for several files in one batched forward pass.
    public static func render(paths: [String], targets: [Int], head: DenseHead, backbone: Backbone) throws -> [Data] {
        try explain(paths: paths, targets: targets, head: head, backbone: backbone).map(\.png)
    }

    /// One forward pass per batch gives both the class probabilities (from the pooled feature
    /// map) and the Grad-CAM overlay of `targets[i]` (default: the class `decision` predicts).
    public static func explain(paths: [String], targets: [Int]? = nil, decision: DecisionRule = .argmax, head: DenseHead,
                               backbone: Backbone) throws
        -> [(probabilities: [Float], predicted: Int, png: Data)] {
        guard !paths.isEmpty else { return [] }
        let embedder = backbone.embedder
        let pass = try embedder.forward(paths, outputs: .featureMap)
        if let failure = pass.failures.first { throw failure }
        let result = pass.output!, tensor = pass.input
        let probabilities = head.predict(result.embeddings, rows: paths.count)
        let side = result.featureMapShape[1], per = side * side * result.featureMapShape[3]
        let p = embedder.preprocessor, values = p.valuesPerImage, k = head.classes
        return try paths.indices.map { i in
            let row = Array(probabilities[(i * k)..<((i + 1) * k)])
            let predicted = decision.predicted(row)
            let map = Array(result.featureMap![(i * per)..<((i + 1) * per)])
            let cam = Heatmap.gradCAM(head: head, featureMap: map, side: side, target: targets?[i] ?? predicted)
            return (row, predicted, try overlayPNG(input: tensor[(i * values)..<((i + 1) * values)], cam: cam, side: side, preprocessor: p))
        }
    }

    /// The model's input, un-normalised back to pixels, with the heatmap `cam` over it, as PNG.
    static func overlayPNG(input: ArraySlice<Float>, cam: [Float], side: Int, preprocessor p: Preprocessor) throws -> Data {
        let pixels = input.enumerated().map { k, x -> Float in
            let c = k % 3
            return min(max((x * p.normalization.std[c] + p.normalization.mean[c]) * 255, 0), 255)
        }
        let square = RGBImage(width: p.size, height: p.size, pixels: pixels)
        return try PNGEncoder.encode(Heatmap.overlay(square, cam: cam, side: side, scale: 1))
    }

    /// The Grad-CAM overlay PNG of `target` for one image file.
    public static func render(path: String, target: Int, head: DenseHead, backbone: Backbone) throws -> Data {
        try render(paths: [path], targets: [target], head: head, backbone: backbone)[0]
    }
}
