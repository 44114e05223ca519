import CLightboxKernels

/// Adam's elementwise update in C (the Swift optimiser does not vectorise it; measured).
public enum AdamKernel {
    /// Updates `count` parameters in place from their gradient and moments, with the step's
    /// bias-corrected learning rate `rate`.
    public static func step(parameters: UnsafeMutablePointer<Float>, gradient: UnsafePointer<Float>,
                            firstMoment: UnsafeMutablePointer<Float>, secondMoment: UnsafeMutablePointer<Float>, count: Int,
                            rate: Float, beta1: Float, beta2: Float, epsilon: Float) {
        lightbox_adam_step(parameters, gradient, firstMoment, secondMoment, count, rate, beta1, beta2, epsilon)
    }
}
