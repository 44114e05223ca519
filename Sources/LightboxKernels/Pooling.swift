/// Reductions over the spatial positions of NHWC tensors.
public enum Pooling {
    /// Mean over the `positions` spatial positions of each of `batch` images with
    /// `channels` channels: `[batch, positions, channels]` -> `[batch, channels]`.
    public static func globalAverage(_ input: UnsafePointer<Float>, batch: Int, positions: Int, channels: Int,
                                     output: UnsafeMutablePointer<Float>) {
        let scale = 1 / Float(positions)
        for n in 0..<batch {
            let out = output + n * channels
            out.update(repeating: 0, count: channels)
            for p in 0..<positions {
                let row = input + (n * positions + p) * channels
                for c in 0..<channels { out[c] += row[c] }
            }
            for c in 0..<channels { out[c] *= scale }
        }
    }
}
