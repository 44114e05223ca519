import Foundation
import LightboxCore
import LightboxKernels

/// Teachable Machine's classifier head on a 1280-value embedding:
/// Dense(hidden, relu) -> [dropout] -> Dense(classes, no bias) -> softmax.
public struct DenseHead: Sendable, Equatable {
    public let inputs: Int, hidden: Int, classes: Int
    /// `[hidden, inputs]`, `[hidden]`, `[classes, hidden]` (torch's `[out, in]` layout).
    public var w1: [Float], b1: [Float], w2: [Float]

    /// Glorot-uniform weights (Keras's default), zero bias, drawn from `seed`.
    public init(inputs: Int, hidden: Int, classes: Int, seed: UInt64) {
        self.inputs = inputs
        self.hidden = hidden
        self.classes = classes
        var g = SeededGenerator(seed: seed, stream: "head-init")
        func glorot(_ fanIn: Int, _ fanOut: Int) -> [Float] {
            let limit = (6 / Double(fanIn + fanOut)).squareRoot()
            return (0..<(fanIn * fanOut)).map { _ in Float(g.uniform(-limit...limit)) }
        }
        w1 = glorot(inputs, hidden)
        b1 = [Float](repeating: 0, count: hidden)
        w2 = glorot(hidden, classes)
    }

    public init(inputs: Int, hidden: Int, classes: Int, w1: [Float], b1: [Float], w2: [Float]) throws {
        guard w1.count == hidden * inputs, b1.count == hidden, w2.count == classes * hidden else {
            throw HeadShapeError("head weights do not match \(inputs) -> \(hidden) -> \(classes)")
        }
        self.inputs = inputs
        self.hidden = hidden
        self.classes = classes
        self.w1 = w1
        self.b1 = b1
        self.w2 = w2
    }

    /// Hidden activations (after ReLU) and class probabilities for `rows` embeddings. Both
    /// layers go through `RowProduct`, for training steps and predictions alike, so a picture's
    /// probabilities do not depend on which pictures share its batch (the same summation as the
    /// fine-tuned head's logits).
    public func forward(_ x: [Float], rows: Int) -> (hidden: [Float], probabilities: [Float]) {
        var a1 = RowProduct.dense(x, rows: rows, inputs: inputs, weights: w1, bias: b1, outputs: hidden)
        for i in 0..<a1.count where a1[i] < 0 { a1[i] = 0 }
        return (a1, output(a1, rows: rows))
    }

    /// Softmax of the second layer for given hidden activations.
    func output(_ a1: [Float], rows: Int) -> [Float] {
        let z = RowProduct.dense(a1, rows: rows, inputs: hidden, weights: w2, bias: nil, outputs: classes)
        return (0..<rows).flatMap { Softmax.apply(Array(z[($0 * classes)..<(($0 + 1) * classes)])) }
    }

    /// Class probabilities, `[rows, classes]`, for predictions.
    public func predict(_ x: [Float], rows: Int) -> [Float] { forward(x, rows: rows).probabilities }

    /// d(score of `target` class probability)/d(embedding) for one embedding: what Grad-CAM
    /// needs to weigh the feature map's channels.
    public func gradientOfProbability(_ x: [Float], target: Int) -> [Float] {
        let (a1, p) = forward(x, rows: 1)
        // dp_t/dz_c = p_t (1[c=t] - p_c)
        var dz2 = [Float](repeating: 0, count: classes)
        for c in 0..<classes { dz2[c] = p[target] * ((c == target ? 1 : 0) - p[c]) }
        var dx = [Float](repeating: 0, count: inputs)
        for j in 0..<hidden where a1[j] > 0 {
            var da = Float(0)
            for c in 0..<classes { da += dz2[c] * w2[c * hidden + j] }
            for i in 0..<inputs { dx[i] += da * w1[j * inputs + i] }
        }
        return dx
    }
}

/// Gradients of the mean (sample-weighted) cross-entropy with respect to the head's parameters.
struct HeadGradients {
    var w1: [Float], b1: [Float], w2: [Float]
    var loss: Float
}

extension DenseHead {
    /// One forward and backward pass over a batch. `dropoutMask` (values 0 or 1/(1-p)) is
    /// applied to the hidden layer when given.
    func gradients(_ x: [Float], labels: [Int], weights: [Float], dropoutMask: [Float]?) -> HeadGradients {
        let rows = labels.count
        var (a1, _) = forward(x, rows: rows)
        let relu = a1.map { $0 > 0 }
        if let mask = dropoutMask { for i in 0..<a1.count { a1[i] *= mask[i] } }
        let p = output(a1, rows: rows)

        var loss: Float = 0
        var dz2 = p
        for r in 0..<rows {
            let w = weights[r] / Float(rows)
            loss -= weights[r] * logf(max(p[r * classes + labels[r]], 1e-12))
            dz2[r * classes + labels[r]] -= 1
            for c in 0..<classes { dz2[r * classes + c] *= w }
        }
        loss /= Float(rows)

        // dW2 = dz2^T a1 ; da1 = dz2 W2
        var gw2 = [Float](repeating: 0, count: classes * hidden)
        var da1 = [Float](repeating: 0, count: rows * hidden)
        for r in 0..<rows {
            for c in 0..<classes {
                let g = dz2[r * classes + c]
                if g == 0 { continue }
                for j in 0..<hidden {
                    gw2[c * hidden + j] += g * a1[r * hidden + j]
                    da1[r * hidden + j] += g * w2[c * hidden + j]
                }
            }
        }
        for i in 0..<da1.count {
            if !relu[i] { da1[i] = 0 } else if let mask = dropoutMask { da1[i] *= mask[i] }
        }
        var gb1 = [Float](repeating: 0, count: hidden)
        for r in 0..<rows { for j in 0..<hidden { gb1[j] += da1[r * hidden + j] } }
        // dW1 = dz1^T X : [hidden, rows] x [rows, inputs]
        var gw1 = [Float](repeating: 0, count: hidden * inputs)
        gw1.withUnsafeMutableBufferPointer { out in
            BLAS.weightGradient(outputGradient: da1, input: x, rows: rows, inputs: inputs, outputs: hidden, gradient: out.baseAddress!)
        }
        return HeadGradients(w1: gw1, b1: gb1, w2: gw2, loss: loss)
    }
}


/// Head weights whose sizes do not fit the head's shape.
public struct HeadShapeError: Error, CustomStringConvertible, Sendable {
    public let description: String
    init(_ description: String) { self.description = description }
}
