import Foundation
import LightboxHead
import LightboxModels

/// The head method's member (the 2020 blog's model): Teachable Machine's dense head on the
/// whole frozen backbone's pooled embedding.
public struct DenseHeadMember: ModelMember {
    public let dense: DenseHead

    public init(_ dense: DenseHead) { self.dense = dense }

    public var trainingMethod: String { "head" }
    public var classes: Int { dense.classes }
    public var cut: FrozenCut { .wholeBackbone }
    public var reads: BackboneOutputs { [] }

    public func probabilities(frozen: BackboneResult) throws -> [Float] {
        dense.predict(frozen.embeddings, rows: frozen.batch)
    }

    public func gradCAM(frozen: BackboneResult, index: Int, target: Int) throws -> (cam: [Float], side: Int) {
        let (map, side, _) = try frozenFeatureMap(frozen, index: index)
        return (Heatmap.gradCAM(head: dense, featureMap: map, side: side, target: target), side)
    }

    public var trainedModules: (modules: ClosedRange<Int>, weights: NamedTensors)? { nil }
    public var head: PooledHead { .dense(dense) }

    public var tensors: [String: Tensor] {
        ["dense1.weight": Tensor(shape: [dense.hidden, dense.inputs], values: dense.w1),
         "dense1.bias": Tensor(shape: [dense.hidden], values: dense.b1),
         "dense2.weight": Tensor(shape: [dense.classes, dense.hidden], values: dense.w2)]
    }

    /// The member saved in `store` (`tensors`' names), `inputs` -> `hidden` -> `classes`.
    public init(store: NamedTensors, inputs: Int, hidden: Int, classes: Int) throws {
        do {
            self.init(try DenseHead(inputs: inputs, hidden: hidden, classes: classes,
                                    w1: store.tensor("dense1.weight", shape: [hidden, inputs]).values,
                                    b1: store.tensor("dense1.bias", shape: [hidden]).values,
                                    w2: store.tensor("dense2.weight", shape: [classes, hidden]).values))
        } catch let e as HeadShapeError {
            throw WeightsError("\(store.source): \(e)")
        }
    }
}
