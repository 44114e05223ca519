import Foundation
import LightboxData
import LightboxImaging

/// A test image shown in the report: what it is, what the model said, and where it looked.
public struct HeatmapExample: Sendable {
    public var path: String
    public var label: String
    public var predicted: String
    public var confidence: Float
    /// PNG of the model's input with the Grad-CAM heatmap of the predicted class over it.
    public var png: Data
}

public enum HeatmapExamples {
    /// The misclassified images the model was most confident about (if none, the correct
    /// ones it was least sure of), up to `limit`.
    public static func worstMisclassified(images: [LabeledImage], labels: [Int], probabilities: [Float], classes: [String],
                                          head: DenseHead, backbone: Backbone, limit: Int) throws -> [HeatmapExample] {
        let k = classes.count
        let predicted = (0..<labels.count).map { r in (0..<k).max { probabilities[r * k + $0] < probabilities[r * k + $1] }! }
        let confidence = (0..<labels.count).map { probabilities[$0 * k + predicted[$0]] }
        var chosen = labels.indices.filter { predicted[$0] != labels[$0] }.sorted { confidence[$0] > confidence[$1] }
        if chosen.isEmpty { chosen = labels.indices.sorted { confidence[$0] < confidence[$1] } }
        return try chosen.prefix(limit).map { i in
            let png = try render(path: images[i].path, target: predicted[i], head: head, backbone: backbone)
            return HeatmapExample(path: images[i].path, label: images[i].label, predicted: classes[predicted[i]],
                                  confidence: confidence[i], png: png)
        }
    }

    /// The Grad-CAM overlay PNG of `target` for one image file.
    public static func render(path: String, target: Int, head: DenseHead, backbone: Backbone) throws -> Data {
        let embedder = backbone.embedder
        let image = try embedder.decoder.decode(file: path, reduceFor: embedder.preprocessor.decodeTarget)
        let square = embedder.preprocessor.resized(image)
        let tensor = embedder.preprocessor.tensor(image)
        let result = try tensor.withUnsafeBufferPointer {
            try embedder.network.forward($0.baseAddress!, batch: 1, outputs: .featureMap)
        }
        let side = result.featureMapShape[1]
        let cam = Heatmap.gradCAM(head: head, featureMap: result.featureMap!, side: side, target: target)
        return try PNGEncoder.encode(Heatmap.overlay(square, cam: cam, side: side, scale: 1))
    }
}
