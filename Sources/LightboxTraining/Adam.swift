import Foundation

/// Adam (Kingma & Ba), with Keras's defaults: beta1 0.9, beta2 0.999, epsilon 1e-7.
struct Adam {
    var learningRate: Float
    var beta1: Float = 0.9, beta2: Float = 0.999, epsilon: Float = 1e-7
    private var step = 0
    private var m: [[Float]] = [], v: [[Float]] = []

    init(learningRate: Float) { self.learningRate = learningRate }

    /// Updates each parameter array with its gradient.
    mutating func update(_ parameters: inout [[Float]], _ gradients: [[Float]]) {
        if m.isEmpty {
            m = parameters.map { [Float](repeating: 0, count: $0.count) }
            v = m
        }
        step += 1
        let t = Float(step)
        let rate = learningRate * (1 - powf(beta2, t)).squareRoot() / (1 - powf(beta1, t))
        for k in 0..<parameters.count {
            for i in 0..<parameters[k].count {
                let g = gradients[k][i]
                m[k][i] = beta1 * m[k][i] + (1 - beta1) * g
                v[k][i] = beta2 * v[k][i] + (1 - beta2) * g * g
                parameters[k][i] -= rate * m[k][i] / (v[k][i].squareRoot() + epsilon)
            }
        }
    }
}
