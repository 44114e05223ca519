/// Parts of the model's input square set to black, for the shortcut audit: a model that keeps
/// its accuracy with the lungs hidden is reading something else (borders, text, devices, the
/// look of one hospital's pictures).
public enum InputBlanking: String, CaseIterable, Sendable, Codable {
    /// The input as it is.
    case none
    /// The central box (`box`) black: it covers most of the lungs on a chest X-ray.
    case centerBlanked = "center_blanked"
    /// Everything outside the central box black: only the lungs' region is left.
    case outsideBlanked = "outside_blanked"

    /// The central box as fractions of the input's width (x) and height (y).
    public static let box = (x: (from: 0.15, to: 0.85), y: (from: 0.10, to: 0.90))

    /// The box's pixel columns and rows in a `width` x `height` square (bounds rounded to the nearest pixel).
    public static func boxPixels(width: Int, height: Int) -> (columns: Range<Int>, rows: Range<Int>) {
        func span(_ f: (from: Double, to: Double), _ n: Int) -> Range<Int> {
            Int((f.from * Double(n)).rounded())..<Int((f.to * Double(n)).rounded())
        }
        return (span(box.x, width), span(box.y, height))
    }

    /// `image` with this part black (samples 0), the part defined by `box` (fractions of the
    /// square; default the central box).
    public func apply(_ image: RGBImage, box: LungBox = .central) -> RGBImage {
        guard self != .none else { return image }
        let (columns, rows) = box.pixelSpans(width: image.width, height: image.height)
        var out = image
        out.pixels.withUnsafeMutableBufferPointer { p in
            for y in 0..<image.height {
                for x in 0..<image.width where (columns.contains(x) && rows.contains(y)) == (self == .centerBlanked) {
                    let i = (y * image.width + x) * 3
                    p[i] = 0; p[i + 1] = 0; p[i + 2] = 0
                }
            }
        }
        return out
    }
}
