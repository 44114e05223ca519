import LightboxCore
import Foundation
import LightboxImaging
import LightboxKernels

/// Which frozen feature extractor a model was trained on. Its `id` is what a model bundle
/// records and, with the weights' digest, what the embedding cache is keyed by.
public enum BackboneKind: Sendable, Equatable {
    /// torchvision's ImageNet MobileNetV2, from the weights `lightbox setup` installs.
    case pretrainedMobileNetV2
    /// The MobileNet inside a Teachable Machine export (its files travel with the model).
    case teachableMachine

    public var id: String {
        switch self {
        case .pretrainedMobileNetV2: PretrainedMobileNetV2.identifier
        case .teachableMachine: "tfjs:teachable-machine"
        }
    }

    /// The kind a recorded id names; nil for a backbone this Lightbox does not have. Any
    /// `tfjs:` id is a Teachable Machine backbone (early bundles recorded its first layer's name).
    public init?(id: String) {
        if id == PretrainedMobileNetV2.identifier {
            self = .pretrainedMobileNetV2
        } else if id.hasPrefix("tfjs:") {
            self = .teachableMachine
        } else {
            return nil
        }
    }
}

/// A frozen feature extractor ready to run: its kind, the network with its preprocessing,
/// and the SHA-256 of the weights it was built from.
public struct Backbone: Sendable {
    public let kind: BackboneKind
    public let embedder: ImageEmbedder
    public let weightsSHA256: String
    /// What its pointwise convolutions compute in.
    public let arithmetic: Arithmetic

    public init(kind: BackboneKind, embedder: ImageEmbedder, weightsSHA256: String, arithmetic: Arithmetic) {
        self.kind = kind
        self.embedder = embedder
        self.weightsSHA256 = weightsSHA256
        self.arithmetic = arithmetic
    }

    /// The same backbone cropping every picture with `crop` (nil: whole pictures).
    public func cropping(_ crop: LungCrop?) -> Backbone {
        Backbone(kind: kind, embedder: embedder.cropping(crop), weightsSHA256: weightsSHA256, arithmetic: arithmetic)
    }

    /// The one key under which this backbone's embeddings are cached: fp32 and bf16
    /// embeddings are never mixed (`Arithmetic.cacheTag`).
    public var cacheKey: String { "\(kind.id)@\(weightsSHA256.prefix(16))\(arithmetic.cacheTag)" }

    /// The pretrained ImageNet MobileNetV2 with `preprocessor`: from the weights folder
    /// `weightsFolder` (`PretrainedMobileNetV2.folder(in:)`), or `weights` already loaded (and
    /// checked) by the caller from there; `parallelism` threads for the network and preprocessing.
    public static func pretrained(_ preprocessor: Preprocessor, weightsFolder: String, weights: NamedTensors? = nil,
                                  decoder: ImageDecoder, parallelism: Int, arithmetic: Arithmetic) throws -> Backbone {
        let network = try MobileNetV2(weights: weights ?? PretrainedMobileNetV2.load(from: weightsFolder), parallelism: parallelism,
                                      arithmetic: arithmetic)
        return Backbone(kind: .pretrainedMobileNetV2,
                        embedder: ImageEmbedder(network: network, preprocessor: preprocessor, decoder: decoder, threads: parallelism),
                        weightsSHA256: PretrainedMobileNetV2.installedDigest(in: weightsFolder) ?? "", arithmetic: arithmetic)
    }

    /// The MobileNet inside a Teachable Machine export (its embedding is the pooled `out_relu`),
    /// with its own preprocessing (`x / 127.5 - 1`) and the resize `policy`.
    public static func teachableMachine(_ model: TFJSLayersModel, policy: ResizePolicy, equalization: Equalization = .none,
                                        decoder: ImageDecoder, parallelism: Int, arithmetic: Arithmetic) throws -> Backbone {
        let network = try model.backboneNetwork(parallelism: parallelism, arithmetic: arithmetic)
        let preprocessor = Preprocessor(size: network.inputSize, policy: policy, normalization: .symmetric,
                                        equalization: equalization)
        return Backbone(kind: .teachableMachine, embedder: ImageEmbedder(network: network, preprocessor: preprocessor, decoder: decoder,
                                                                         threads: parallelism),
                        weightsSHA256: model.weightsDigest, arithmetic: arithmetic)
    }
}
