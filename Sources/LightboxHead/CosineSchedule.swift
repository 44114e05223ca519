import Foundation

/// Cosine decay to zero over a run: `base * (1 + cos(pi * step / total)) / 2` for the 0-based `step`.
public enum CosineSchedule {
    public static func rate(base: Float, step: Int, total: Int) -> Float {
        base * Float(0.5 * (1 + cos(Double.pi * Double(step) / Double(max(total, 1)))))
    }
}
