import Foundation
import LightboxCore
import LightboxModels

/// The frozen modules of fine-tuning seen as a feature extractor whose "embedding" is their
/// whole output feature map, flattened (NHWC: 14 x 14 x 96 values for the default first
/// trained module, 14): what the held-out pictures of a fine-tuning run need, computed over
/// shards (here or on Slurm) into the embedding cache.
public final class FrozenFeatureMaps: FeatureExtractor, @unchecked Sendable {
    public let network: GraphNetwork
    /// Names the frozen modules in cache keys: the modules run and the base weights' digest.
    public let cacheKey: String

    public init(network: GraphNetwork, firstTrainedModule: Int, weightsSHA256: String) {
        self.network = network
        cacheKey = "mobilenet-v2-features-0-\(firstTrainedModule - 1)@\(weightsSHA256.prefix(16))\(network.arithmetic.cacheTag)"
    }

    public var arithmetic: Arithmetic { network.arithmetic }

    public var embeddingChannels: Int {
        let output = network.graph.nodes[network.graph.output]
        return output.height * output.width * output.channels
    }

    public var inputSize: Int { network.inputSize }

    public func forward(_ input: UnsafePointer<Float>, batch: Int, outputs: BackboneOutputs) throws -> BackboneResult {
        BackboneResult(batch: batch, embeddings: try network.forward(input, batch: batch, outputs: .featureMap).featureMap!)
    }
}

/// Per-picture work a run hands to someone else (the command line's shards, here or as a Slurm
/// job array) instead of doing it in its own process.
public protocol PictureWorkDistributor: Sendable {
    /// `embedder`'s output for every one of `paths` (rows in order; all must decode), computed
    /// into the embedding cache under `cacheKey`. `work` describes the embedder to a Slurm task,
    /// which builds the same one from it (`ShardJob.makeEmbedder`).
    func outputs(of embedder: ImageEmbedder, cacheKey: String, work: ShardWork, paths: [String],
                 description: String) throws -> [Float]

    /// Where a cross-fitted fine-tuning run's folds train, when not here: each fold's members
    /// as a task of their own (a Slurm job array). nil (the default): here, together.
    var folds: FoldTrainingExecutor? { get }
}

extension PictureWorkDistributor {
    public var folds: FoldTrainingExecutor? { nil }
}
