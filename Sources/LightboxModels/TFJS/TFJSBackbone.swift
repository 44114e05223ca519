import Foundation
import LightboxCore
import LightboxKernels

extension TFJSLayersModel {
    /// The functional backbone as a runnable network (its pooled last feature map is the embedding).
    public func backboneNetwork(parallelism: Int, arithmetic: Arithmetic = .fp32) throws -> GraphNetwork {
        try GraphNetwork(graph: KerasGraphBuilder.build(self), parallelism: parallelism, arithmetic: arithmetic)
    }

    /// The functional backbone as a layer graph (batch norm folded, activations fused).
    public func backboneGraph() throws -> LayerGraph { try KerasGraphBuilder.build(self) }

    /// A digest of every weight, in name order: identifies the backbone in caches and bundles.
    public var weightsDigest: String {
        var data = Data()
        for name in weights.keys.sorted() {
            data.append(Data(name.utf8))
            weights[name]!.values.withUnsafeBytes { data.append(contentsOf: $0) }
        }
        return SHA256.hex(data)
    }
}
