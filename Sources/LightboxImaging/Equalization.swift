/// How contrast is equalised before the network (after resizing, before normalisation).
///
/// Both methods reproduce OpenCV bit for bit on 8-bit grey images (checked against
/// opencv-python by scripts/reference/equalize_reference.py):
/// - `histogram` is `cv2.equalizeHist(gray)`;
/// - `clahe` is `cv2.createCLAHE(clipLimit=2.0, tileGridSize=(8, 8)).apply(gray)`.
public enum Equalization: String, CaseIterable, Sendable, Codable {
    case none, clahe, histogram

    /// The image with its contrast equalised: grey levels (rounded to 8 bits, as OpenCV works
    /// on 8-bit images; see `grayLevels(of:)`) equalised, written to all three channels.
    /// `none` returns it unchanged.
    public func apply(_ image: RGBImage) -> RGBImage {
        let equalized: [UInt8]
        switch self {
        case .none:
            return image
        case .clahe:
            equalized = Self.clahe(Self.grayLevels(of: image), width: image.width, height: image.height)
        case .histogram:
            equalized = Self.histogramEqualized(Self.grayLevels(of: image))
        }
        var pixels = [Float](repeating: 0, count: equalized.count * 3)
        for (i, level) in equalized.enumerated() {
            let value = Float(level)
            pixels[3 * i] = value
            pixels[3 * i + 1] = value
            pixels[3 * i + 2] = value
        }
        return RGBImage(width: image.width, height: image.height, pixels: pixels)
    }

    // MARK: - Grey levels

    /// The 8-bit grey level of every pixel, row-major. Where R == G == B (every pixel of a grey
    /// X-ray) that value; otherwise the luma of cv2.cvtColor's COLOR_RGB2GRAY,
    /// 0.299 R + 0.587 G + 0.114 B, computed in Float. Either is then rounded as OpenCV's
    /// `saturate_cast<uchar>(float)` does: to nearest, ties to even (cvRound), clamped to 0...255.
    ///
    /// For 8-bit colour input, cv2.cvtColor itself uses 14-bit fixed point
    /// ((4899 R + 9617 G + 1868 B + 8192) >> 14), which differs from this by one level for about
    /// 0.13% of all colours; grey pixels are unaffected.
    public static func grayLevels(of image: RGBImage) -> [UInt8] {
        let count = image.width * image.height
        return image.pixels.withUnsafeBufferPointer { p in
            (0..<count).map { i in
                let r = p[3 * i], g = p[3 * i + 1], b = p[3 * i + 2]
                if r == g && g == b { return saturatingRound(r) }
                // Left to right, as written: Swift does not fuse these into FMAs.
                return saturatingRound(0.299 * r + 0.587 * g + 0.114 * b)
            }
        }
    }

    /// OpenCV's `saturate_cast<uchar>(float)`: cvRound (to nearest, ties to even), then clamped
    /// to 0...255. NaN gives 0, as cvRound's integer "indefinite" value saturates to 0.
    @inlinable
    public static func saturatingRound(_ value: Float) -> UInt8 {
        guard !value.isNaN else { return 0 }
        let rounded = value.rounded(.toNearestOrEven)
        return rounded <= 0 ? 0 : rounded >= 255 ? 255 : UInt8(rounded)
    }

    // MARK: - Histogram equalisation

    /// `cv2.equalizeHist` on 8-bit grey levels (any layout: only the values matter).
    ///
    /// OpenCV's look-up table maps the lowest level present to 0 and every level v above it to
    /// round(255 * (cdf(v) - count(lowest)) / (total - count(lowest))), the scale taken in Float
    /// as `255 / (total - count(lowest))` and multiplied by the running sum. So the darkest level
    /// always becomes black and the brightest white. An image of a single level is returned
    /// unchanged (OpenCV fills it with that level, it does not map it to 0).
    public static func histogramEqualized(_ gray: [UInt8]) -> [UInt8] {
        var histogram = [Int](repeating: 0, count: 256)
        for level in gray { histogram[Int(level)] += 1 }
        guard let lowest = histogram.firstIndex(where: { $0 > 0 }) else { return gray }  // empty
        let total = gray.count
        if histogram[lowest] == total { return gray }

        let scale = Float(255) / Float(total - histogram[lowest])
        var lut = [UInt8](repeating: 0, count: 256)  // levels below `lowest` do not occur
        var sum = 0
        for level in (lowest + 1)..<256 {
            sum += histogram[level]
            lut[level] = saturatingRound(Float(sum) * scale)
        }
        return gray.map { lut[Int($0)] }
    }

    // MARK: - CLAHE

    /// `cv2.createCLAHE(clipLimit, tileGridSize=(tiles.x, tiles.y)).apply(gray)` on an 8-bit
    /// grey image of `width` x `height`, row-major.
    ///
    /// As OpenCV does it:
    /// 1. When the size is not a multiple of the tile grid in BOTH directions, the image is
    ///    extended right and down with BORDER_REFLECT_101 by `tiles - size % tiles` in EACH
    ///    direction: a width that is already a multiple still gains a whole `tiles.x` columns.
    ///    The tiles (of the extended size / tiles) are taken from that extended image.
    /// 2. Each tile's 256-bin histogram is clipped at max(1, Int(clipLimit * tileArea / 256))
    ///    (no clipping when clipLimit <= 0); the clipped count is spread evenly over all bins,
    ///    and its remainder one pixel per bin from bin 0 at a stride of max(256 / remainder, 1).
    /// 3. A tile's look-up table is saturate_cast(cumulative count * (255 / tileArea)), in Float.
    /// 4. Every pixel of the ORIGINAL image interpolates the tables of the four nearest tile
    ///    centres bilinearly, with OpenCV's Float coordinates (x * (1 / tileWidth) - 0.5, the
    ///    tables of the edge tiles used as they are beyond the outer centres), and is rounded
    ///    with saturate_cast.
    public static func clahe(_ gray: [UInt8], width: Int, height: Int, clipLimit: Double = 2,
                             tiles: (x: Int, y: Int) = (8, 8)) -> [UInt8] {
        precondition(width >= 0 && height >= 0 && gray.count == width * height,
                     "Equalization.clahe: \(gray.count) levels do not fill \(width)x\(height)")
        precondition(tiles.x > 0 && tiles.y > 0, "Equalization.clahe: a tile grid of \(tiles.x)x\(tiles.y)")
        guard width > 0 && height > 0 else { return gray }

        // 1. Tile geometry over the (possibly extended) image, and for every extended row and
        //    column the source row or column it copies.
        let extend = width % tiles.x != 0 || height % tiles.y != 0
        let extendedWidth = extend ? width + tiles.x - width % tiles.x : width
        let extendedHeight = extend ? height + tiles.y - height % tiles.y : height
        let tileWidth = extendedWidth / tiles.x, tileHeight = extendedHeight / tiles.y
        let sourceColumn = (0..<extendedWidth).map { reflect101($0, length: width) }
        let sourceRow = (0..<extendedHeight).map { reflect101($0, length: height) }

        let tileArea = tileWidth * tileHeight
        let lutScale = Float(255) / Float(tileArea)
        let limit = clipCount(clipLimit, tileArea: tileArea)

        // 2-3. One 256-entry table per tile, tile (tx, ty) at (ty * tiles.x + tx) * 256.
        var luts = [UInt8](repeating: 0, count: tiles.x * tiles.y * 256)
        var histogram = [Int](repeating: 0, count: 256)
        for ty in 0..<tiles.y {
            for tx in 0..<tiles.x {
                for i in 0..<256 { histogram[i] = 0 }
                for y in (ty * tileHeight)..<((ty + 1) * tileHeight) {
                    let row = sourceRow[y] * width
                    for x in (tx * tileWidth)..<((tx + 1) * tileWidth) {
                        histogram[Int(gray[row + sourceColumn[x]])] += 1
                    }
                }
                if let limit { clip(&histogram, at: limit) }
                let base = (ty * tiles.x + tx) * 256
                var sum = 0
                for i in 0..<256 {
                    sum += histogram[i]
                    luts[base + i] = saturatingRound(Float(sum) * lutScale)
                }
            }
        }

        // 4. Bilinear interpolation between tile tables. The horizontal tables and weights are
        //    the same for every row.
        let inverseTileWidth = 1 / Float(tileWidth), inverseTileHeight = 1 / Float(tileHeight)
        var leftTable = [Int](repeating: 0, count: width), rightTable = [Int](repeating: 0, count: width)
        var rightWeight = [Float](repeating: 0, count: width), leftWeight = [Float](repeating: 0, count: width)
        for x in 0..<width {
            let txf = Float(x) * inverseTileWidth - 0.5
            let tx1 = Int(txf.rounded(.down))
            rightWeight[x] = txf - Float(tx1)
            leftWeight[x] = 1 - rightWeight[x]
            leftTable[x] = max(tx1, 0) * 256
            rightTable[x] = min(tx1 + 1, tiles.x - 1) * 256
        }

        var out = [UInt8](repeating: 0, count: width * height)
        for y in 0..<height {
            let tyf = Float(y) * inverseTileHeight - 0.5
            let ty1 = Int(tyf.rounded(.down))
            let lowerWeight = tyf - Float(ty1), upperWeight = 1 - lowerWeight
            let upperPlane = max(ty1, 0) * tiles.x * 256
            let lowerPlane = min(ty1 + 1, tiles.y - 1) * tiles.x * 256
            for x in 0..<width {
                let level = Int(gray[y * width + x])
                let left = leftTable[x] + level, right = rightTable[x] + level
                // The same grouping and order as OpenCV's expression, so the Float result
                // (and its rounding) is identical.
                let upper = Float(luts[upperPlane + left]) * leftWeight[x] + Float(luts[upperPlane + right]) * rightWeight[x]
                let lower = Float(luts[lowerPlane + left]) * leftWeight[x] + Float(luts[lowerPlane + right]) * rightWeight[x]
                out[y * width + x] = saturatingRound(upper * upperWeight + lower * lowerWeight)
            }
        }
        return out
    }

    /// OpenCV's clip limit in pixels per bin: max(1, Int(clipLimit * tileArea / 256)); nil (no
    /// clipping) for a limit <= 0 or NaN, or one so large no bin can exceed it.
    static func clipCount(_ clipLimit: Double, tileArea: Int) -> Int? {
        guard clipLimit > 0 else { return nil }
        let perBin = clipLimit * Double(tileArea) / 256
        guard perBin < Double(tileArea) else { return nil }  // also catches +infinity
        return max(Int(perBin), 1)
    }

    /// Clips every bin at `limit` and redistributes what was cut as OpenCV does: an equal share
    /// to every bin, then the remainder one each to bins 0, step, 2 step, ... with
    /// step = max(256 / remainder, 1).
    static func clip(_ histogram: inout [Int], at limit: Int) {
        var clipped = 0
        for i in histogram.indices where histogram[i] > limit {
            clipped += histogram[i] - limit
            histogram[i] = limit
        }
        let bins = histogram.count
        let share = clipped / bins
        var residual = clipped - share * bins
        for i in histogram.indices { histogram[i] += share }
        if residual > 0 {
            let step = max(bins / residual, 1)
            var i = 0
            while i < bins && residual > 0 {
                histogram[i] += 1
                i += step
                residual -= 1
            }
        }
    }

    /// OpenCV's `borderInterpolate(p, length, BORDER_REFLECT_101)`: the index `p` reflected about
    /// the edge samples (…, 2, 1 | 0, 1, …, n-1 | n-2, n-3, …), repeatedly when the border is
    /// wider than the image; 0 for a length of 1.
    static func reflect101(_ p: Int, length: Int) -> Int {
        guard length > 1 else { return 0 }
        var p = p
        while p < 0 || p >= length {
            p = p < 0 ? -p : 2 * (length - 1) - p
        }
        return p
    }
}
