import Foundation
import LightboxCore
import LightboxHead
import LightboxImaging
import LightboxModels

/// A Teachable Machine image model (TF.js export folder or zip) as a Lightbox classifier:
/// its MobileNet backbone on oneDNN, its Dense head, its labels, and its preprocessing
/// (centre crop, 224, `x / 127.5 - 1`).
public struct TeachableMachineExport: Sendable {
    public var classes: [String]
    public var head: DenseHead
    public var backbone: Backbone

    /// `settings`: the run's pixel limit and threads; `dicomWindow`: the window its decoder
    /// applies (a Teachable Machine export records none).
    public static func load(_ path: String, settings: LightboxSettings, dicomWindow: DICOMWindow) throws -> TeachableMachineExport {
        let model = try TFJSLayersModel.load(path)
        let network = try model.backboneNetwork(parallelism: settings.threads, arithmetic: settings.arithmetic)
        let head = try denseHead(model, inputs: network.embeddingChannels)
        var classes = model.labels
        if classes.isEmpty { classes = (0..<head.classes).map { "class \($0)" } }
        guard classes.count == head.classes else {
            throw WeightsError("\(path): metadata.json names \(classes.count) labels, the model has \(head.classes) outputs")
        }
        let backbone = Backbone(kind: .teachableMachine,
                                embedder: ImageEmbedder(network: network,
                                                        preprocessor: Preprocessor(size: network.inputSize, policy: .crop,
                                                                                   normalization: .symmetric),
                                                        decoder: ImageDecoder(maxPixels: settings.maxPixels, dicomWindow: dicomWindow),
                                                        threads: settings.threads),
                                weightsSHA256: model.weightsDigest, arithmetic: settings.arithmetic)
        return TeachableMachineExport(classes: classes, head: head, backbone: backbone)
    }

    /// The head after the backbone: GlobalAveragePooling2D, Dense(relu, bias), Dense(softmax, no bias).
    static func denseHead(_ model: TFJSLayersModel, inputs: Int) throws -> DenseHead {
        let kinds = model.head.map(\.className)
        guard kinds == ["GlobalAveragePooling2D", "Dense", "Dense"] else {
            throw WeightsError("\(model.source): head \(kinds) is not supported (expected GlobalAveragePooling2D, Dense, Dense)")
        }
        let first = model.head[1], second = model.head[2]
        guard first.config["activation"] as? String == "relu", first.config["use_bias"] as? Bool ?? true,
              second.config["activation"] as? String == "softmax", !(second.config["use_bias"] as? Bool ?? true) else {
            throw WeightsError("\(model.source): head must be Dense(relu, bias) then Dense(softmax, no bias), as Teachable Machine's")
        }
        guard let hidden = first.config["units"] as? Int, let classes = second.config["units"] as? Int else {
            throw WeightsError("\(model.source): dense layers without units")
        }
        func weight(_ layer: TFJSLayersModel.Layer, _ param: String, _ shape: [Int]) throws -> [Float] {
            guard let t = model.weights["\(layer.name)/\(param)"], t.shape == shape else {
                throw WeightsError("\(model.source): layer '\(layer.name)': weight '\(param)' missing or not of shape \(shape)")
            }
            return t.values
        }
        // Keras stores dense kernels [in, out]; the head keeps torch's [out, in].
        return try DenseHead(inputs: inputs, hidden: hidden, classes: classes,
                             w1: MatrixLayout.transposed(try weight(first, "kernel", [inputs, hidden]), rows: inputs, columns: hidden),
                             b1: try weight(first, "bias", [hidden]),
                             w2: MatrixLayout.transposed(try weight(second, "kernel", [hidden, classes]), rows: hidden, columns: classes))
    }
}
