import Foundation

/// Adam (Kingma & Ba), with Keras's defaults: beta1 0.9, beta2 0.999, epsilon 1e-7.
/// Moments are kept per parameter array ("slot"), in flat buffers updated in place.
struct Adam {
    var learningRate: Float
    var beta1: Float = 0.9, beta2: Float = 0.999, epsilon: Float = 1e-7
    private var step = 0
    private var m: [[Float]] = [], v: [[Float]] = []

    init(learningRate: Float) { self.learningRate = learningRate }

    /// Starts the next optimisation step; call once per batch, before its `update`s.
    mutating func beginStep() { step += 1 }

    /// Updates parameter array `slot` with its gradient.
    mutating func update(_ parameters: inout [Float], gradient: [Float], slot: Int) {
        while m.count <= slot {
            m.append([])
            v.append([])
        }
        if m[slot].count != parameters.count {
            m[slot] = [Float](repeating: 0, count: parameters.count)
            v[slot] = m[slot]
        }
        let t = Float(step)
        let rate = learningRate * (1 - powf(beta2, t)).squareRoot() / (1 - powf(beta1, t))
        let b1 = beta1, b2 = beta2, eps = epsilon
        parameters.withUnsafeMutableBufferPointer { p in
            gradient.withUnsafeBufferPointer { g in
                m[slot].withUnsafeMutableBufferPointer { m in
                    v[slot].withUnsafeMutableBufferPointer { v in
                        for i in 0..<p.count {
                            m[i] = b1 * m[i] + (1 - b1) * g[i]
                            v[i] = b2 * v[i] + (1 - b2) * g[i] * g[i]
                            p[i] -= rate * m[i] / (v[i].squareRoot() + eps)
                        }
                    }
                }
            }
        }
    }
}
