import Foundation
import LightboxCore

/// Fine-tuning's augmentation, drawn afresh for every training image in every epoch:
/// rotation ±10°, shift ±8% of the side, zoom 0.9-1.1 in one affine resample (bilinear, black
/// outside the picture), then brightness ±0.1 and contrast ×0.8-1.2 in 0..1 units around the
/// image's mean, clipped.
public struct FineTuneAugmentation: Sendable, Equatable {
    public var rotation: Double, shiftX: Double, shiftY: Double, zoom: Double
    public var brightness: Double, contrast: Double

    /// The draw that changes nothing.
    public static let identity = FineTuneAugmentation(rotation: 0, shiftX: 0, shiftY: 0, zoom: 1, brightness: 0, contrast: 1)

    public init(rotation: Double, shiftX: Double, shiftY: Double, zoom: Double, brightness: Double, contrast: Double) {
        self.rotation = rotation
        self.shiftX = shiftX
        self.shiftY = shiftY
        self.zoom = zoom
        self.brightness = brightness
        self.contrast = contrast
    }

    /// A draw from the recipe's ranges.
    public init(generator g: inout SeededGenerator) {
        self.init(rotation: g.uniform(-10...10), shiftX: g.uniform(-0.08...0.08), shiftY: g.uniform(-0.08...0.08),
                  zoom: g.uniform(0.9...1.1), brightness: g.uniform(-0.1...0.1), contrast: g.uniform(0.8...1.2))
    }

    /// The augmented copy of `image` (0...255 values, any size).
    public func apply(to image: RGBImage) -> RGBImage {
        let w = image.width, h = image.height
        let cx = Double(w - 1) / 2, cy = Double(h - 1) / 2
        let angle = rotation * Double.pi / 180
        let cosA = cos(angle) / zoom, sinA = sin(angle) / zoom
        let dx = shiftX * Double(w), dy = shiftY * Double(h)
        var out = [Float](repeating: 0, count: w * h * 3)
        image.pixels.withUnsafeBufferPointer { src in
            func sample(_ x: Int, _ y: Int, _ c: Int) -> Float {
                x < 0 || y < 0 || x >= w || y >= h ? 0 : src[(y * w + x) * 3 + c]
            }
            for y in 0..<h {
                for x in 0..<w {
                    // Inverse mapping: where in the source this output pixel comes from.
                    let ox = Double(x) - cx - dx, oy = Double(y) - cy - dy
                    let sx = cosA * ox + sinA * oy + cx, sy = -sinA * ox + cosA * oy + cy
                    let fx = sx.rounded(.down), fy = sy.rounded(.down)
                    guard fx >= -1, fy >= -1, fx < Double(w), fy < Double(h) else { continue }  // black
                    let x0 = Int(fx), y0 = Int(fy)
                    let ax = Float(sx - fx), ay = Float(sy - fy)
                    for c in 0..<3 {
                        let top = sample(x0, y0, c) * (1 - ax) + sample(x0 + 1, y0, c) * ax
                        let bottom = sample(x0, y0 + 1, c) * (1 - ax) + sample(x0 + 1, y0 + 1, c) * ax
                        out[(y * w + x) * 3 + c] = top * (1 - ay) + bottom * ay
                    }
                }
            }
        }
        // Intensity in 0..1 units: contrast about the picture's mean, then brightness, clipped.
        let mean = out.reduce(0, +) / Float(max(out.count, 1)) / 255
        let k = Float(contrast), b = Float(brightness)
        for i in out.indices { out[i] = min(max(((out[i] / 255 - mean) * k + mean + b), 0), 1) * 255 }
        return RGBImage(width: w, height: h, pixels: out)
    }
}
