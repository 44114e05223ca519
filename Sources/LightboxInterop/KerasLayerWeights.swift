/// The weights Keras gives each layer class it exports, by Keras's own names and in the order
/// Keras lists them (`layer.trainable_weights`, then `layer.non_trainable_weights`), from
/// Keras's layer definitions (keras/src/layers/...: Conv2D and DepthwiseConv2D build `kernel`
/// or `depthwise_kernel` and `bias`; BatchNormalization `gamma`, `beta`, then the untrained
/// `moving_mean`, `moving_variance`; Dense `kernel`, `bias`). Exports name and order their
/// weights by this table, never by what Lightbox's own reader accepts.
public enum KerasLayerWeights {
    public struct Names: Equatable, Sendable {
        public var trainable: [String]
        public var nonTrainable: [String]
        public var all: [String] { trainable + nonTrainable }
    }

    /// Nil for a class with no weights (InputLayer, ZeroPadding2D, ReLU, Add, pooling).
    public static func names(ofClass className: String) -> Names? {
        switch className {
        case "Conv2D", "Dense": return Names(trainable: ["kernel", "bias"], nonTrainable: [])
        case "DepthwiseConv2D": return Names(trainable: ["depthwise_kernel", "bias"], nonTrainable: [])
        case "BatchNormalization": return Names(trainable: ["gamma", "beta"], nonTrainable: ["moving_mean", "moving_variance"])
        default: return nil
        }
    }
}
