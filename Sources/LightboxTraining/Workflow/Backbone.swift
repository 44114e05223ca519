import Foundation
import LightboxData
import LightboxEmbedding
import LightboxImaging
import LightboxModels

/// The frozen feature extractor a workflow uses, with the identity a model bundle records.
public struct Backbone: Sendable {
    public let embedder: ImageEmbedder
    public let identity: ModelBundle.Backbone

    /// The pretrained ImageNet MobileNetV2 from the cache, with `preprocessor`.
    public static func pretrained(_ preprocessor: Preprocessor) throws -> Backbone {
        let network = try MobileNetV2(weights: PretrainedMobileNetV2.load())
        let identity = ModelBundle.Backbone(id: PretrainedMobileNetV2.identifier,
                                            weightsSHA256: PretrainedMobileNetV2.installedDigest ?? "")
        return Backbone(embedder: ImageEmbedder(network: network, preprocessor: preprocessor), identity: identity)
    }

    /// The MobileNet inside a Teachable Machine export (its embedding is the pooled `out_relu`).
    public static func teachableMachine(_ path: String, policy: ResizePolicy) throws -> (Backbone, files: [String: Data]) {
        let model = try TFJSLayersModel.load(path)
        let network = try model.backboneNetwork()
        let identity = ModelBundle.Backbone(id: "tfjs:teachable-machine", weightsSHA256: model.weightsDigest)
        let preprocessor = Preprocessor(size: network.inputSize, policy: policy, normalization: .symmetric)
        return (Backbone(embedder: ImageEmbedder(network: network, preprocessor: preprocessor), identity: identity), model.files)
    }

    /// The backbone a model bundle was trained on; refuses different weights.
    public static func matching(_ bundle: ModelBundle) throws -> Backbone {
        if bundle.backbone.id.hasPrefix("tfjs:") {
            guard let directory = bundle.directory else { throw WeightsError("the model's backbone files are not on disk") }
            let path = (directory as NSString).appendingPathComponent(ModelBundle.backboneFolder)
            let (backbone, _) = try teachableMachine(path, policy: try bundle.preprocessing.preprocessor().policy)
            try refuseOtherWeights(bundle, actual: backbone.identity.weightsSHA256, exportPath: path)
            return backbone
        }
        try requireKnown(bundle)
        let backbone = try pretrained(try bundle.preprocessing.preprocessor())
        try refuseOtherWeights(bundle, actual: backbone.identity.weightsSHA256, exportPath: nil)
        return backbone
    }

    /// Refuses a bundle on a backbone this Lightbox does not have.
    static func requireKnown(_ bundle: ModelBundle) throws {
        guard bundle.backbone.id.hasPrefix("tfjs:") || bundle.backbone.id == PretrainedMobileNetV2.identifier else {
            throw WeightsError("the model was trained on backbone '\(bundle.backbone.id)', which this Lightbox does not have")
        }
    }

    /// Refuses weights (SHA-256 `actual`) other than those the bundle was trained on; `exportPath`
    /// names a Teachable Machine backbone's files, nil the installed pretrained weights.
    static func refuseOtherWeights(_ bundle: ModelBundle, actual: String, exportPath: String?) throws {
        guard actual == bundle.backbone.weightsSHA256 else {
            if let exportPath {
                throw WeightsError("\(exportPath): backbone weights differ from the ones the model was trained on (checksum mismatch)")
            }
            throw WeightsError("the model's backbone weights (SHA-256 \(bundle.backbone.weightsSHA256.prefix(12))…) differ from the installed ones (\(actual.prefix(12))…): run `lightbox setup --force`")
        }
    }

    /// A sample embedder over this backbone, with the on-disk cache unless disabled.
    public func sampleEmbedder(cache: Bool) -> SampleEmbedder {
        SampleEmbedder(embedder: embedder, cache: cache ? EmbeddingCache() : nil,
                       backbone: "\(identity.id)@\(identity.weightsSHA256.prefix(16))")
    }
}
