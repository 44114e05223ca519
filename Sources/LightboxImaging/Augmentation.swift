import Foundation
import LightboxCore

/// How far each augmentation may go; a draw picks concrete values inside these ranges. One
/// type for both methods: `init()` gives the head method's ranges (its augmented copies),
/// `fineTuning` the fine-tuning recipe's. Horizontal flips are off by default: on a radiograph
/// they move the heart to the right.
public struct AugmentationRanges: Sendable, Equatable, Codable {
    /// Rotation, degrees either way.
    public var rotation: Double = 10
    /// Shift, as a fraction of the side, either way.
    public var shift: Double = 0.05
    /// Zoom factor deviation: scale in 1 ± zoom.
    public var zoom: Double = 0.1
    /// Brightness offset, fraction of full scale, either way.
    public var brightness: Double = 0.1
    /// Contrast factor deviation: 1 ± contrast.
    public var contrast: Double = 0.1
    /// Gamma deviation: gamma in 1 ± gamma.
    public var gamma: Double = 0.1
    /// Gaussian noise standard deviation, in 0...255 pixel units.
    public var noise: Double = 2
    public var horizontalFlip: Bool = false

    public init() {}

    /// Fine-tuning's recipe: rotation ±10°, shift ±8% of the side, zoom 0.9-1.1, brightness
    /// ±0.1 and contrast x0.8-1.2, no gamma, noise or flip.
    public static let fineTuning: AugmentationRanges = {
        var r = AugmentationRanges()
        r.shift = 0.08
        r.contrast = 0.2
        r.gamma = 0
        r.noise = 0
        return r
    }()
}

/// One augmentation's concrete parameters: drawn from a seeded generator, so the same
/// image and copy number always give the same picture (and the same cache key). Two renderers
/// apply a draw: `Augmenter.apply` (the head method's augmented copies) and `write(_:normalizedBy:to:)`
/// (fine-tuning's fresh draw per image and epoch, straight into the network's input).
public struct AugmentationDraw: Sendable, Hashable, Codable {
    public var rotation: Double, shiftX: Double, shiftY: Double, zoom: Double
    public var brightness: Double, contrast: Double, gamma: Double
    public var noise: Double, noiseSeed: UInt64
    public var flip: Bool

    /// The draw that changes nothing.
    public static let identity = AugmentationDraw(rotation: 0, shiftX: 0, shiftY: 0, zoom: 1, brightness: 0, contrast: 1)

    public init(rotation: Double, shiftX: Double, shiftY: Double, zoom: Double, brightness: Double, contrast: Double,
                gamma: Double = 1, noise: Double = 0, noiseSeed: UInt64 = 0, flip: Bool = false) {
        self.rotation = rotation
        self.shiftX = shiftX
        self.shiftY = shiftY
        self.zoom = zoom
        self.brightness = brightness
        self.contrast = contrast
        self.gamma = gamma
        self.noise = noise
        self.noiseSeed = noiseSeed
        self.flip = flip
    }

    public init(ranges r: AugmentationRanges, generator g: inout SeededGenerator) {
        rotation = g.uniform(-r.rotation...r.rotation)
        shiftX = g.uniform(-r.shift...r.shift)
        shiftY = g.uniform(-r.shift...r.shift)
        zoom = 1 + g.uniform(-r.zoom...r.zoom)
        brightness = g.uniform(-r.brightness...r.brightness)
        contrast = 1 + g.uniform(-r.contrast...r.contrast)
        gamma = 1 + g.uniform(-r.gamma...r.gamma)
        noise = r.noise
        noiseSeed = g.next()
        flip = r.horizontalFlip && g.unit() < 0.5
    }

    /// A stable text form, for cache keys.
    public var key: String {
        String(format: "r%.6f,x%.6f,y%.6f,z%.6f,b%.6f,c%.6f,g%.6f,n%.4f:%llu,f%d",
               rotation, shiftX, shiftY, zoom, brightness, contrast, gamma, noise, noiseSeed, flip ? 1 : 0)
    }
}

/// Applies a draw to a (square, resized) image: geometry first (flip, rotation and zoom
/// about the centre, shift; bilinear sampling, edges extended), then intensity
/// (contrast about mid-grey, brightness, gamma, noise), clamped to 0...255.
public enum Augmenter {
    public static func apply(_ d: AugmentationDraw, to image: RGBImage) -> RGBImage {
        let w = image.width, h = image.height
        let cx = Double(w - 1) / 2, cy = Double(h - 1) / 2
        let angle = d.rotation * Double.pi / 180
        let cosA = cos(angle) / d.zoom, sinA = sin(angle) / d.zoom
        let dx = d.shiftX * Double(w), dy = d.shiftY * Double(h)
        var noise = SeededGenerator(seed: d.noiseSeed)
        var out = [Float](repeating: 0, count: w * h * 3)
        image.pixels.withUnsafeBufferPointer { src in
            for y in 0..<h {
                for x in 0..<w {
                    // Inverse mapping: where in the source this output pixel comes from.
                    let ox = Double(x) - cx - dx, oy = Double(y) - cy - dy
                    var sx = cosA * ox + sinA * oy + cx
                    let sy = -sinA * ox + cosA * oy + cy
                    if d.flip { sx = Double(w - 1) - sx }
                    let fx = min(max(sx, 0), Double(w - 1)), fy = min(max(sy, 0), Double(h - 1))
                    let x0 = Int(fx), y0 = Int(fy)
                    let x1 = min(x0 + 1, w - 1), y1 = min(y0 + 1, h - 1)
                    let ax = Float(fx - Double(x0)), ay = Float(fy - Double(y0))
                    for c in 0..<3 {
                        let top = src[(y0 * w + x0) * 3 + c] * (1 - ax) + src[(y0 * w + x1) * 3 + c] * ax
                        let bottom = src[(y1 * w + x0) * 3 + c] * (1 - ax) + src[(y1 * w + x1) * 3 + c] * ax
                        var v = Double(top * (1 - ay) + bottom * ay)
                        v = (v - 127.5) * d.contrast + 127.5 + d.brightness * 255
                        v = 255 * pow(min(max(v, 0), 255) / 255, d.gamma)
                        out[(y * w + x) * 3 + c] = Float(v)
                    }
                    if d.noise > 0 {
                        let n = Float(noise.normal() * d.noise)  // the same noise on all channels: X-rays are grey
                        for c in 0..<3 { out[(y * w + x) * 3 + c] = min(max(out[(y * w + x) * 3 + c] + n, 0), 255) }
                    }
                }
            }
        }
        return RGBImage(width: w, height: h, pixels: out)
    }
}
