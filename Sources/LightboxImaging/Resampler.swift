/// Separable resampling with a triangle (bilinear) filter that widens with the
/// reduction factor, so shrinking averages every source pixel (antialiasing).
/// The same scheme as Pillow's `resize(BILINEAR)` and torch's
/// `interpolate(mode="bilinear", antialias=True, align_corners=False)`.
public enum Resampler {
    /// Resizes `image` to `width` x `height`.
    public static func resize(_ image: RGBImage, width: Int, height: Int) -> RGBImage {
        precondition(width > 0 && height > 0)
        if width == image.width && height == image.height { return image }
        let horizontal = width == image.width ? image : resizeRows(image, to: width)
        return height == image.height ? horizontal : resizeColumns(horizontal, to: height)
    }

    /// Source taps for one output sample: `weights[i]` applies to source index `start + i`.
    struct Taps {
        var start: Int
        var weights: [Float]
    }

    static func taps(inputSize: Int, outputSize: Int) -> [Taps] {
        let scale = Double(inputSize) / Double(outputSize)
        let filterScale = max(scale, 1)
        let support = filterScale  // the triangle's half-width is 1 source pixel at scale 1
        return (0..<outputSize).map { out in
            let center = (Double(out) + 0.5) * scale
            let lo = max(Int(center - support + 0.5), 0)
            let hi = min(Int(center + support + 0.5), inputSize)
            var weights = (lo..<max(hi, lo + 1)).map { i -> Double in
                let x = (Double(i) - center + 0.5) / filterScale
                return max(0, 1 - abs(x))
            }
            let total = weights.reduce(0, +)
            if total > 0 { weights = weights.map { $0 / total } } else { weights = [1] }
            return Taps(start: min(lo, inputSize - 1), weights: weights.map(Float.init))
        }
    }

    private static func resizeRows(_ image: RGBImage, to width: Int) -> RGBImage {
        let plan = taps(inputSize: image.width, outputSize: width)
        let h = image.height, inW = image.width
        var out = [Float](repeating: 0, count: width * h * 3)
        image.pixels.withUnsafeBufferPointer { src in
            out.withUnsafeMutableBufferPointer { dst in
                for y in 0..<h {
                    let rowIn = y * inW * 3, rowOut = y * width * 3
                    for x in 0..<width {
                        let t = plan[x]
                        var r: Float = 0, g: Float = 0, b: Float = 0
                        var s = rowIn + t.start * 3
                        for w in t.weights {
                            r += w * src[s]; g += w * src[s + 1]; b += w * src[s + 2]
                            s += 3
                        }
                        dst[rowOut + x * 3] = r; dst[rowOut + x * 3 + 1] = g; dst[rowOut + x * 3 + 2] = b
                    }
                }
            }
        }
        return RGBImage(width: width, height: h, pixels: out)
    }

    private static func resizeColumns(_ image: RGBImage, to height: Int) -> RGBImage {
        let plan = taps(inputSize: image.height, outputSize: height)
        let rowLength = image.width * 3
        var out = [Float](repeating: 0, count: rowLength * height)
        image.pixels.withUnsafeBufferPointer { src in
            out.withUnsafeMutableBufferPointer { dst in
                for y in 0..<height {
                    let t = plan[y]
                    let o = y * rowLength
                    for (k, w) in t.weights.enumerated() {
                        let s = (t.start + k) * rowLength
                        for i in 0..<rowLength { dst[o + i] += w * src[s + i] }
                    }
                }
            }
        }
        return RGBImage(width: image.width, height: height, pixels: out)
    }
}
