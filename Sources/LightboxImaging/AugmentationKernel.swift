import CLightboxImaging
import Foundation
import LightboxCore

/// Fine-tuning's renderer of a draw, drawn afresh for every training image in every epoch:
/// rotation, shift and zoom in one affine resample (bilinear, black outside the picture), then
/// brightness and contrast in 0..1 units around the image's mean, clipped; normalised for the
/// network in the same pass (C, vectorised). Gamma, noise and flips are not part of this
/// renderer: the fine-tuning ranges (`AugmentationRanges.fineTuning`) never draw them.
extension AugmentationDraw {
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
        precondition(gamma == 1 && noise == 0 && !flip, "the augmentation kernel renders geometry, brightness and contrast only")
        let angle = rotation * Double.pi / 180
        image.samples.withUnsafeBufferPointer { src in
            lightbox_augment(src.baseAddress!, image.width, image.height, cos(angle) / zoom, sin(angle) / zoom,
                             shiftX * Double(image.width), shiftY * Double(image.height), Float(contrast), Float(brightness),
                             scale, shift, destination)
        }
    }
}
