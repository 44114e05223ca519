import Foundation

/// The box around both lungs of a chest X-ray, as fractions of the picture's own width (x) and
/// height (y), so that it holds for the picture at any decoded size: `pixels(width:height:)`
/// gives it in a picture's pixels, `inSquare(of:width:height:)` in a model's input square.
public struct LungBox: Sendable, Equatable, Codable {
    public var x0: Double, y0: Double, x1: Double, y1: Double

    public init(x0: Double, y0: Double, x1: Double, y1: Double) {
        self.x0 = x0; self.y0 = y0; self.x1 = x1; self.y1 = y1
    }

    /// What the audit's "lungs hidden" and "lungs only" and the lungs-only crop add around a
    /// predicted box on every side, as a share of the box's width and height: the locator's boxes
    /// miss the annotated ones by a few percent (BENCHMARKS.md, lung locator), and a margin errs
    /// towards covering all of the lungs.
    public static let margin = 0.05

    /// The central box the audit blanked before the lungs were located (x 15-85%, y 10-90% of
    /// the model's input), kept for comparison (`lightbox audit --box central`).
    public static let central = LungBox(x0: 0.15, y0: 0.10, x1: 0.85, y1: 0.90)

    public var width: Double { x1 - x0 }
    public var height: Double { y1 - y0 }
    public var area: Double { max(0, width) * max(0, height) }

    /// Intersection over union with `other` (0 when either is empty).
    public func iou(_ other: LungBox) -> Double {
        let w = min(x1, other.x1) - max(x0, other.x0), h = min(y1, other.y1) - max(y0, other.y0)
        let inter = max(0, w) * max(0, h)
        let union = area + other.area - inter
        return union > 0 ? inter / union : 0
    }

    /// The box grown by `share` of its width and height on every side, kept within 0...1.
    public func expanded(by share: Double) -> LungBox {
        LungBox(x0: x0 - share * width, y0: y0 - share * height, x1: x1 + share * width, y1: y1 + share * height).clamped()
    }

    /// Within 0...1, with x0 <= x1 and y0 <= y1.
    public func clamped() -> LungBox {
        func c(_ v: Double) -> Double { v.isFinite ? min(1, max(0, v)) : 0 }
        let a = c(x0), b = c(x1), p = c(y0), q = c(y1)
        return LungBox(x0: min(a, b), y0: min(p, q), x1: max(a, b), y1: max(p, q))
    }

    /// `[x0, y0, x1, y1]` in the pixels of a `width` x `height` picture.
    public func pixels(width: Int, height: Int) -> [Double] {
        [x0 * Double(width), y0 * Double(height), x1 * Double(width), y1 * Double(height)]
    }

    /// The pixel rectangle of a `width` x `height` picture the box covers (at least one pixel):
    /// what the lungs-only crop keeps.
    public func region(width: Int, height: Int) -> Resampler.Region {
        let b = clamped()
        let left = min(width - 1, Int((b.x0 * Double(width)).rounded(.down)))
        let top = min(height - 1, Int((b.y0 * Double(height)).rounded(.down)))
        let right = max(left + 1, min(width, Int((b.x1 * Double(width)).rounded(.up))))
        let bottom = max(top + 1, min(height, Int((b.y1 * Double(height)).rounded(.up))))
        return Resampler.Region(x: left, y: top, width: right - left, height: bottom - top)
    }

    /// The columns and rows of a `width` x `height` square the box covers (bounds rounded to the
    /// nearest pixel, as the central box always was).
    public func pixelSpans(width: Int, height: Int) -> (columns: Range<Int>, rows: Range<Int>) {
        let b = clamped()
        func span(_ from: Double, _ to: Double, _ n: Int) -> Range<Int> {
            let a = Int((from * Double(n)).rounded()), z = Int((to * Double(n)).rounded())
            return a..<max(a, z)
        }
        return (span(b.x0, b.x1, width), span(b.y0, b.y1, height))
    }
}

extension Preprocessor {
    /// Where a box of a `width` x `height` picture falls in this preprocessing's input square
    /// (fractions of the square, clipped to it: a centre crop cuts what lies outside), by the
    /// same integer rules `resized` places the picture with.
    public func inSquare(_ box: LungBox, width: Int, height: Int) -> LungBox {
        let p = placement(width: width, height: height)
        return LungBox(x0: p.x(box.x0), y0: p.y(box.y0), x1: p.x(box.x1), y1: p.y(box.y1)).clamped()
    }

    /// The inverse: a box of this input square (fractions) as fractions of the `width` x `height`
    /// picture, clipped to the picture (padding is not picture).
    public func inPicture(_ square: LungBox, width: Int, height: Int) -> LungBox {
        let p = placement(width: width, height: height)
        return LungBox(x0: p.pictureX(square.x0), y0: p.pictureY(square.y0), x1: p.pictureX(square.x1),
                       y1: p.pictureY(square.y1)).clamped()
    }

    /// A picture fraction f lands at `offset + f * scale` of the square, per axis.
    struct Placement {
        var offsetX: Double, scaleX: Double, offsetY: Double, scaleY: Double
        func x(_ f: Double) -> Double { offsetX + f * scaleX }
        func y(_ f: Double) -> Double { offsetY + f * scaleY }
        func pictureX(_ s: Double) -> Double { (s - offsetX) / scaleX }
        func pictureY(_ s: Double) -> Double { (s - offsetY) / scaleY }
    }

    func placement(width: Int, height: Int) -> Placement {
        let n = Double(size), w = Double(width), h = Double(height)
        switch policy {
        case .stretch:
            return Placement(offsetX: 0, scaleX: 1, offsetY: 0, scaleY: 1)
        case .crop:
            // The centred square of side min(width, height), from integer offsets as `resizedSquare`.
            let side = Double(min(width, height))
            let left = Double((width - min(width, height)) / 2), top = Double((height - min(width, height)) / 2)
            return Placement(offsetX: -left / side, scaleX: w / side, offsetY: -top / side, scaleY: h / side)
        case .pad:
            // The picture scaled to an inner w x h rectangle placed at integer offsets, as `resizedSquare`.
            let scale = n / max(w, h)
            let iw = Double(min(size, max(1, Int((w * scale).rounded())))), ih = Double(min(size, max(1, Int((h * scale).rounded()))))
            let left = Double((size - Int(iw)) / 2), top = Double((size - Int(ih)) / 2)
            return Placement(offsetX: left / n, scaleX: iw / n, offsetY: top / n, scaleY: ih / n)
        }
    }
}

extension LungBox {
    /// `image` with the box's outline drawn in `colour` (0...255 RGB), `thickness` pixels wide
    /// (default: about 1/150 of the picture's longer side, at least 2).
    public func drawn(on image: RGBImage, colour: (Float, Float, Float) = (0, 230, 255), thickness: Int? = nil) -> RGBImage {
        let t = thickness ?? max(2, max(image.width, image.height) / 150)
        let (columns, rows) = pixelSpans(width: image.width, height: image.height)
        guard !columns.isEmpty, !rows.isEmpty else { return image }
        var out = image
        let w = image.width
        out.pixels.withUnsafeMutableBufferPointer { p in
            func paint(_ x: Int, _ y: Int) {
                guard x >= 0, y >= 0, x < image.width, y < image.height else { return }
                let i = (y * w + x) * 3
                p[i] = colour.0; p[i + 1] = colour.1; p[i + 2] = colour.2
            }
            for d in 0..<t {
                for x in columns { paint(x, rows.lowerBound + d); paint(x, rows.upperBound - 1 - d) }
                for y in rows { paint(columns.lowerBound + d, y); paint(columns.upperBound - 1 - d, y) }
            }
        }
        return out
    }
}
