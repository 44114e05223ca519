/// An RGB picture with 8-bit samples (HWC, like `RGBImage`): a quarter of its memory, for
/// pictures kept for a whole run, such as fine-tuning's training squares.
public struct ByteImage: Sendable, Equatable {
    public let width: Int, height: Int
    /// `width * height * 3` samples, `samples[(y * width + x) * 3 + c]`.
    public let samples: [UInt8]

    /// `image`'s samples rounded to the nearest integer in 0...255.
    public init(_ image: RGBImage) {
        width = image.width
        height = image.height
        samples = image.pixels.map { UInt8(min(max($0.rounded(), 0), 255)) }
    }

    /// The same picture with float samples.
    public var rgbImage: RGBImage { RGBImage(width: width, height: height, pixels: samples.map(Float.init)) }
}
