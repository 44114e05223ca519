/// Separable resampling with a triangle (bilinear) filter that widens with the
/// reduction factor, so shrinking averages every source pixel (antialiasing).
/// The same scheme as Pillow's `resize(BILINEAR)` and torch's
/// `interpolate(mode="bilinear", antialias=True, align_corners=False)`.
public enum Resampler {
    /// A rectangle of source pixels.
    public struct Region: Sendable, Equatable {
        public var x: Int, y: Int, width: Int, height: Int
        public init(x: Int, y: Int, width: Int, height: Int) {
            self.x = x; self.y = y; self.width = width; self.height = height
        }
    }

    /// Resizes `image` to `width` x `height`.
    public static func resize(_ image: RGBImage, width: Int, height: Int) -> RGBImage {
        resize(image, region: Region(x: 0, y: 0, width: image.width, height: image.height), width: width, height: height)
    }

    /// Resizes the `region` of `image` to `width` x `height`, without copying the region first.
    public static func resize(_ image: RGBImage, region: Region, width: Int, height: Int) -> RGBImage {
        precondition(width > 0 && height > 0)
        precondition(region.x >= 0 && region.y >= 0 && region.width > 0 && region.height > 0
                      && region.x + region.width <= image.width && region.y + region.height <= image.height)
        let whole = region == Region(x: 0, y: 0, width: image.width, height: image.height)
        if whole && width == image.width && height == image.height { return image }
        let horizontal = whole && width == image.width ? image : resizeRows(image, region: region, to: width)
        return height == horizontal.height ? horizontal : resizeColumns(horizontal, to: height)
    }

    /// Source taps of every output sample, flattened: output `i` reads `width` source
    /// samples from `starts[i]` with weights `weights[i * width ..< (i + 1) * width]`
    /// (zero-padded), so the inner loops touch no per-sample arrays.
    struct Taps {
        var width: Int
        var starts: [Int]
        var weights: [Float]
    }

    static func taps(inputSize: Int, outputSize: Int) -> Taps {
        let scale = Double(inputSize) / Double(outputSize)
        let filterScale = max(scale, 1)
        let support = filterScale  // the triangle's half-width is 1 source pixel at scale 1
        var firsts: [Int] = []
        var rows: [[Double]] = []
        for out in 0..<outputSize {
            let center = (Double(out) + 0.5) * scale
            let lo = min(max(Int(center - support + 0.5), 0), inputSize - 1)
            let hi = max(min(Int(center + support + 0.5), inputSize), lo + 1)
            var weights = (lo..<hi).map { i -> Double in max(0, 1 - abs((Double(i) - center + 0.5) / filterScale)) }
            let total = weights.reduce(0, +)
            weights = total > 0 ? weights.map { $0 / total } : [1] + [Double](repeating: 0, count: weights.count - 1)
            firsts.append(lo)
            rows.append(weights)
        }
        // Pad every row to the widest, moving a row's start back where it would run past the
        // input's end (each row ends at or before the input's end, so its taps still fit).
        let width = rows.map(\.count).max() ?? 1
        var starts = [Int](repeating: 0, count: outputSize)
        var flat = [Float](repeating: 0, count: width * outputSize)
        for (i, row) in rows.enumerated() {
            starts[i] = max(0, min(firsts[i], inputSize - width))
            let offset = firsts[i] - starts[i]
            for (k, w) in row.enumerated() { flat[i * width + offset + k] = Float(w) }
        }
        return Taps(width: width, starts: starts, weights: flat)
    }

    /// The region's rows resampled horizontally: `width` x `region.height`.
    private static func resizeRows(_ image: RGBImage, region: Region, to width: Int) -> RGBImage {
        let plan = taps(inputSize: region.width, outputSize: width)
        let h = region.height, inW = image.width, n = plan.width
        let out = [Float](unsafeUninitializedCapacity: width * h * 3) { dst, count in
            image.pixels.withUnsafeBufferPointer { src in
                plan.weights.withUnsafeBufferPointer { weights in
                    plan.starts.withUnsafeBufferPointer { starts in
                        for y in 0..<h {
                            let rowIn = ((region.y + y) * inW + region.x) * 3, rowOut = y * width * 3
                            for x in 0..<width {
                                var r: Float = 0, g: Float = 0, b: Float = 0
                                var s = rowIn + starts[x] * 3
                                for k in 0..<n {
                                    let w = weights[x * n + k]
                                    r += w * src[s]; g += w * src[s + 1]; b += w * src[s + 2]
                                    s += 3
                                }
                                dst[rowOut + x * 3] = r; dst[rowOut + x * 3 + 1] = g; dst[rowOut + x * 3 + 2] = b
                            }
                        }
                    }
                }
            }
            count = width * h * 3
        }
        return RGBImage(width: width, height: h, pixels: out)
    }

    private static func resizeColumns(_ image: RGBImage, to height: Int) -> RGBImage {
        let plan = taps(inputSize: image.height, outputSize: height)
        let rowLength = image.width * 3, n = plan.width
        var out = [Float](repeating: 0, count: rowLength * height)
        image.pixels.withUnsafeBufferPointer { src in
            out.withUnsafeMutableBufferPointer { dst in
                for y in 0..<height {
                    let o = y * rowLength
                    for k in 0..<n {
                        let w = plan.weights[y * n + k]
                        if w == 0 { continue }
                        let s = (plan.starts[y] + k) * rowLength
                        for i in 0..<rowLength { dst[o + i] += w * src[s + i] }
                    }
                }
            }
        }
        return RGBImage(width: image.width, height: height, pixels: out)
    }
}
