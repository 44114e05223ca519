import CLightboxKernels
import Foundation

/// Adam's elementwise update in C (the Swift optimiser does not vectorise it; measured).
public enum AdamKernel {
    /// Updates `count` parameters in place from their gradient and moments, with the step's
    /// bias-corrected learning rate `rate`.
    public static func step(parameters: UnsafeMutablePointer<Float>, gradient: UnsafePointer<Float>,
                            firstMoment: UnsafeMutablePointer<Float>, secondMoment: UnsafeMutablePointer<Float>, count: Int,
                            rate: Float, beta1: Float, beta2: Float, epsilon: Float) {
        lightbox_adam_step(parameters, gradient, firstMoment, secondMoment, count, rate, beta1, beta2, epsilon)
    }

    /// One AdamW step (torch's order and epsilon) for step number `step` (1-based).
    public static func stepW(parameters: UnsafeMutablePointer<Float>, gradient: UnsafePointer<Float>,
                             firstMoment: UnsafeMutablePointer<Float>, secondMoment: UnsafeMutablePointer<Float>, count: Int,
                             learningRate: Float, step: Int, beta1: Float, beta2: Float, epsilon: Float, weightDecay: Float) {
        let bc1 = 1 - Float(Foundation.pow(Double(beta1), Double(step)))
        let bc2 = 1 - Float(Foundation.pow(Double(beta2), Double(step)))
        lightbox_adamw_step(parameters, gradient, firstMoment, secondMoment, count, learningRate, beta1, beta2, epsilon,
                            weightDecay, bc1, bc2.squareRoot())
    }
}
