import Foundation
import LightboxCore
import LightboxKernels

/// Fine-tuning's head on a feature map: global average pooling, dropout, one linear layer,
/// softmax cross-entropy weighted per class. The loss is torch's weighted mean: the sum of
/// each image's weighted loss divided by the sum of the images' weights.
public struct LinearClassifier: Sendable, Equatable {
    public let inputs: Int, classes: Int
    /// `[classes, inputs]` (torch's layout) and `[classes]`.
    public var weight: [Float], bias: [Float]

    public init(weight: [Float], bias: [Float], inputs: Int, classes: Int) {
        precondition(weight.count == inputs * classes && bias.count == classes)
        self.inputs = inputs
        self.classes = classes
        self.weight = weight
        self.bias = bias
    }

    /// The mean over the `positions` of each image's feature map (`[batch, positions, inputs]`).
    public static func pool(_ featureMap: [Float], batch: Int, positions: Int, channels: Int) -> [Float] {
        precondition(featureMap.count == batch * positions * channels)
        var pooled = [Float](repeating: 0, count: batch * channels)
        featureMap.withUnsafeBufferPointer { input in
            pooled.withUnsafeMutableBufferPointer { output in
                Pooling.globalAverage(input.baseAddress!, batch: batch, positions: positions, channels: channels,
                                      output: output.baseAddress!)
            }
        }
        return pooled
    }

    /// Logits, `[rows, classes]`: `RowProduct`, so a picture's logits do not depend on which
    /// pictures share its batch. Training steps and predictions both use it.
    public func logits(_ pooled: [Float], rows: Int) -> [Float] {
        RowProduct.dense(pooled, rows: rows, inputs: inputs, weights: weight, bias: bias, outputs: classes)
    }

    /// d(probability of `target`)/d(pooled input) for one image: what Grad-CAM weighs the
    /// feature map's channels with. With p = softmax(W x + b): p_t (W_t - sum_c p_c W_c).
    public func gradientOfProbability(_ pooled: [Float], target: Int) -> [Float] {
        let p = Softmax.apply(logits(pooled, rows: 1))
        var gradient = [Float](repeating: 0, count: inputs)
        for c in 0..<classes {
            let coefficient = p[target] * ((c == target ? 1 : 0) - p[c])
            for i in 0..<inputs { gradient[i] += coefficient * weight[c * inputs + i] }
        }
        return gradient
    }

    /// One training step's loss and gradients.
    public struct Step {
        public var loss: Float
        public var logits: [Float]
        /// Gradient of the loss with respect to the feature map (same layout as the input).
        public var featureMapGradient: [Float]
        public var weightGradient: [Float], biasGradient: [Float]
    }

    /// The loss of `labels` under `classWeights`, and its gradients, for `featureMap`
    /// (`[batch, positions, inputs]`); `dropoutMask` (0 or 1/(1-p) per pooled value) when training with dropout.
    public func step(featureMap: [Float], batch: Int, positions: Int, labels: [Int], classWeights: [Float],
                     dropoutMask: [Float]? = nil) -> Step {
        var pooled = Self.pool(featureMap, batch: batch, positions: positions, channels: inputs)
        if let dropoutMask { for i in pooled.indices { pooled[i] *= dropoutMask[i] } }
        let z = logits(pooled, rows: batch)
        let totalWeight = labels.reduce(Float(0)) { $0 + classWeights[$1] }
        var loss: Float = 0
        var dz = [Float](repeating: 0, count: z.count)
        for n in 0..<batch {
            let p = Softmax.apply(Array(z[(n * classes)..<((n + 1) * classes)]))
            let w = classWeights[labels[n]]
            loss -= w * logf(max(p[labels[n]], 1e-30))
            for c in 0..<classes { dz[n * classes + c] = w * (p[c] - (c == labels[n] ? 1 : 0)) / totalWeight }
        }
        loss /= totalWeight
        var dWeight = [Float](repeating: 0, count: weight.count)
        var dPooled = [Float](repeating: 0, count: pooled.count)
        dz.withUnsafeBufferPointer { g in
            pooled.withUnsafeBufferPointer { x in
                dWeight.withUnsafeMutableBufferPointer {
                    BLAS.weightGradient(outputGradient: g.baseAddress!, input: x.baseAddress!, rows: batch, inputs: inputs,
                                        outputs: classes, gradient: $0.baseAddress!)
                }
            }
            weight.withUnsafeBufferPointer { w in
                dPooled.withUnsafeMutableBufferPointer {
                    BLAS.inputGradient(outputGradient: g.baseAddress!, weights: w.baseAddress!, rows: batch, inputs: inputs,
                                       outputs: classes, gradient: $0.baseAddress!)
                }
            }
        }
        let dBias = (0..<classes).map { c in (0..<batch).reduce(Float(0)) { $0 + dz[$1 * classes + c] } }
        if let dropoutMask { for i in dPooled.indices { dPooled[i] *= dropoutMask[i] } }
        var dMap = [Float](repeating: 0, count: featureMap.count)
        let scale = 1 / Float(positions)
        for n in 0..<batch {
            for p in 0..<positions {
                let row = (n * positions + p) * inputs
                for c in 0..<inputs { dMap[row + c] = dPooled[n * inputs + c] * scale }
            }
        }
        return Step(loss: loss, logits: z, featureMapGradient: dMap, weightGradient: dWeight, biasGradient: dBias)
    }
}
