import Foundation
import LightboxKernels

/// torch.optim.AdamW (decoupled weight decay, torch's epsilon placement), with moments kept
/// per named tensor; fine-tuning's optimiser.
public struct AdamW: Sendable {
    public var beta1: Float = 0.9, beta2: Float = 0.999, epsilon: Float = 1e-8
    public var weightDecay: Float
    /// Optimiser steps begun so far.
    public private(set) var step = 0
    private var moments: [String: (first: [Float], second: [Float])] = [:]

    public init(weightDecay: Float = 0.01) { self.weightDecay = weightDecay }

    /// Starts the next step; call once per batch, before its `update`s.
    public mutating func beginStep() { step += 1 }

    /// Updates tensor `name` in place from its gradient at `learningRate`.
    public mutating func update(_ name: String, _ parameters: inout [Float], gradient: [Float], learningRate: Float) {
        precondition(step > 0 && gradient.count == parameters.count)
        var (m, v) = moments.removeValue(forKey: name)
            ?? ([Float](repeating: 0, count: parameters.count), [Float](repeating: 0, count: parameters.count))
        let count = parameters.count
        parameters.withUnsafeMutableBufferPointer { p in
            gradient.withUnsafeBufferPointer { g in
                m.withUnsafeMutableBufferPointer { mb in
                    v.withUnsafeMutableBufferPointer { vb in
                        AdamKernel.stepW(parameters: p.baseAddress!, gradient: g.baseAddress!, firstMoment: mb.baseAddress!,
                                         secondMoment: vb.baseAddress!, count: count, learningRate: learningRate, step: step,
                                         beta1: beta1, beta2: beta2, epsilon: epsilon, weightDecay: weightDecay)
                    }
                }
            }
        }
        moments[name] = (m, v)
    }
}

/// Cosine decay to zero over a run: `base * (1 + cos(pi * step / total)) / 2` for the 0-based `step`.
public enum CosineSchedule {
    public static func rate(base: Float, step: Int, total: Int) -> Float {
        base * Float(0.5 * (1 + cos(Double.pi * Double(step) / Double(max(total, 1)))))
    }
}
