import CLightboxImaging
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

    /// The augmented copy of `image`, samples 0...255.
    public func apply(to image: ByteImage) -> RGBImage {
        var out = [Float](repeating: 0, count: image.samples.count)
        out.withUnsafeMutableBufferPointer { write(image, scale: [1, 1, 1], shift: [0, 0, 0], to: $0.baseAddress!) }
        return RGBImage(width: image.width, height: image.height, pixels: out)
    }

    /// Writes the augmented copy of `image`, normalised as `normalization` says (HWC floats,
    /// as many as `image` has samples), to `destination`: the training input, in one pass.
    public func write(_ image: ByteImage, normalizedBy normalization: ChannelNormalization, to destination: UnsafeMutablePointer<Float>) {
        write(image, scale: normalization.scale, shift: normalization.shift, to: destination)
    }

    func write(_ image: ByteImage, scale: [Float], shift: [Float], to destination: UnsafeMutablePointer<Float>) {
        let angle = rotation * Double.pi / 180
        image.samples.withUnsafeBufferPointer { src in
            lightbox_augment(src.baseAddress!, image.width, image.height, cos(angle) / zoom, sin(angle) / zoom,
                             shiftX * Double(image.width), shiftY * Double(image.height), Float(contrast), Float(brightness),
                             scale, shift, destination)
        }
    }
}
