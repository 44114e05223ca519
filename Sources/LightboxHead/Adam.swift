import Foundation
import LightboxKernels

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
        let count = parameters.count
        // Moved out of the array of arrays so the kernel gets plain, unshared buffers.
        var ms = m[slot], vs = v[slot]
        m[slot] = []
        v[slot] = []
        parameters.withUnsafeMutableBufferPointer { p in
            gradient.withUnsafeBufferPointer { g in
                ms.withUnsafeMutableBufferPointer { mb in
                    vs.withUnsafeMutableBufferPointer { vb in
                        AdamKernel.step(parameters: p.baseAddress!, gradient: g.baseAddress!, firstMoment: mb.baseAddress!,
                                        secondMoment: vb.baseAddress!, count: count, rate: rate, beta1: beta1, beta2: beta2,
                                        epsilon: epsilon)
                    }
                }
            }
        }
        m[slot] = ms
        v[slot] = vs
    }

}
