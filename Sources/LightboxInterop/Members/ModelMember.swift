import Foundation
import LightboxHead
import LightboxModels

/// Where the part that a model's members share ends. The frozen part runs once per picture;
/// each member then runs on its output.
public enum FrozenCut: Equatable, Sendable {
    /// The whole backbone: its pooled embedding (and last feature map, for Grad-CAM).
    case wholeBackbone
    /// MobileNetV2 through feature module `throughModule` (0-17): its NHWC feature map.
    case mobileNetV2(throughModule: Int)
}

/// A member's head on its pooled last feature map, as exporters write it.
public enum PooledHead: Sendable {
    /// Teachable Machine's Dense(hidden, relu) and Dense(classes, softmax, no bias).
    case dense(DenseHead)
    /// One Dense(classes, softmax) with bias: `weight` is `[classes, inputs]`.
    case linear(LinearClassifier)
}

/// One trained member of a model: whatever the training method, it classifies from the output
/// of the frozen part it shares with the other members (`cut`), gives Grad-CAM its last feature
/// map, describes its layers for the exporters and is saved as named tensors. Predictor,
/// evaluation, the audit, heatmaps, the Studio and every exporter use only this protocol.
///
/// A new kind of member is a new type conforming to it, plus its reading and writing in
/// `ModelBundle` (its manifest section).
public protocol ModelMember: Sendable {
    /// The `--method` that trains this kind of member (`head`, `finetune`), for metadata.
    var trainingMethod: String { get }
    var classes: Int { get }
    /// Where the frozen part this member reads ends.
    var cut: FrozenCut { get }
    /// What of the frozen part's output `probabilities` reads (empty: the pooled embedding only).
    var reads: BackboneOutputs { get }
    /// Class probabilities, `[batch, classes]`, from the frozen part's output for `batch` pictures.
    /// A picture's row does not depend on the other pictures of the batch.
    func probabilities(frozen: BackboneResult) throws -> [Float]
    /// Grad-CAM of class `target` for picture `index` of a frozen output that has its feature
    /// map: the member's own last feature map weighed by the gradient of the class's
    /// probability, scaled to 0...1, on a `side` x `side` grid.
    func gradCAM(frozen: BackboneResult, index: Int, target: Int) throws -> (cam: [Float], side: Int)
    /// The member's own layers after the frozen part, for exporters: MobileNetV2's feature
    /// modules `modules` with `weights` (torch names, batch norm unfolded), none for a head on
    /// the whole backbone.
    var trainedModules: (modules: ClosedRange<Int>, weights: NamedTensors)? { get }
    /// The head on the pooled last feature map.
    var head: PooledHead { get }
    /// What a bundle saves of the member (torch names).
    var tensors: [String: Tensor] { get }
}

extension ModelMember {
    /// The frozen part's feature map of picture `index` (NHWC, one picture) and its shape.
    func frozenFeatureMap(_ frozen: BackboneResult, index: Int) throws -> (map: [Float], side: Int, channels: Int) {
        guard let featureMap = frozen.featureMap, frozen.featureMapShape.count == 4 else {
            throw WeightsError("Grad-CAM needs the frozen part's feature map")
        }
        let side = frozen.featureMapShape[1], channels = frozen.featureMapShape[3], per = side * side * channels
        return (Array(featureMap[(index * per)..<((index + 1) * per)]), side, channels)
    }
}
