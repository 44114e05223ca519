import Foundation
import LightboxKernels

/// Adam, the one optimiser of both methods, with moments kept per named parameter tensor and
/// decoupled weight decay as a parameter. Two conventions keep each method's published recipe
/// exactly:
/// - `.keras` (the head method, Teachable Machine's Keras defaults): epsilon 1e-7 added to
///   sqrt(v), the bias corrections folded into the step's rate;
/// - `.torch` (fine-tuning, torch.optim.AdamW): epsilon 1e-8 added after the bias-corrected
///   square root, the decay applied first.
public struct Adam: Sendable {
    public enum Convention: Sendable, Equatable { case keras, torch }

    public let convention: Convention
    public var beta1: Float = 0.9, beta2: Float = 0.999, epsilon: Float
    /// Decoupled weight decay: each step multiplies parameters by 1 - learning rate x decay.
    public var weightDecay: Float
    /// Optimiser steps begun so far.
    public private(set) var step = 0
    private var moments: [String: (first: [Float], second: [Float])] = [:]

    public init(convention: Convention, weightDecay: Float = 0) {
        self.convention = convention
        self.weightDecay = weightDecay
        epsilon = convention == .keras ? 1e-7 : 1e-8
    }

    /// Keras's Adam (no weight decay): the head method's optimiser.
    public static var keras: Adam { Adam(convention: .keras) }

    /// torch.optim.AdamW: fine-tuning's optimiser.
    public static func torchAdamW(weightDecay: Float) -> Adam { Adam(convention: .torch, weightDecay: weightDecay) }

    /// Starts the next step; call once per batch, before its `update`s.
    public mutating func beginStep() { step += 1 }

    /// Updates tensor `name` in place from its gradient at `learningRate`.
    public mutating func update(_ name: String, _ parameters: inout [Float], gradient: [Float], learningRate: Float) {
        precondition(step > 0 && gradient.count == parameters.count)
        // Moved out of the dictionary so the kernel gets plain, unshared buffers.
        var (m, v) = moments.removeValue(forKey: name)
            ?? ([Float](repeating: 0, count: parameters.count), [Float](repeating: 0, count: parameters.count))
        let count = parameters.count
        if convention == .keras && weightDecay > 0 {
            let decay = 1 - learningRate * weightDecay
            for i in parameters.indices { parameters[i] *= decay }
        }
        parameters.withUnsafeMutableBufferPointer { p in
            gradient.withUnsafeBufferPointer { g in
                m.withUnsafeMutableBufferPointer { mb in
                    v.withUnsafeMutableBufferPointer { vb in
                        switch convention {
                        case .keras:
                            let t = Float(step)
                            let rate = learningRate * (1 - powf(beta2, t)).squareRoot() / (1 - powf(beta1, t))
                            AdamKernel.step(parameters: p.baseAddress!, gradient: g.baseAddress!, firstMoment: mb.baseAddress!,
                                            secondMoment: vb.baseAddress!, count: count, rate: rate, beta1: beta1, beta2: beta2,
                                            epsilon: epsilon)
                        case .torch:
                            AdamKernel.stepW(parameters: p.baseAddress!, gradient: g.baseAddress!, firstMoment: mb.baseAddress!,
                                             secondMoment: vb.baseAddress!, count: count, learningRate: learningRate, step: step,
                                             beta1: beta1, beta2: beta2, epsilon: epsilon, weightDecay: weightDecay)
                        }
                    }
                }
            }
        }
        moments[name] = (m, v)
    }
}
