/// A decoded image: 8-bit-scale RGB samples (0...255) stored as Float, row-major,
/// channels interleaved (HWC). 16-bit sources keep their extra precision as fractions.
public struct RGBImage: Sendable, Equatable {
    public let width: Int
    public let height: Int
    /// `width * height * 3` samples, `pixels[(y * width + x) * 3 + c]`.
    public var pixels: [Float]

    public init(width: Int, height: Int, pixels: [Float]) {
        precondition(width > 0 && height > 0 && pixels.count == width * height * 3,
                     "RGBImage: \(pixels.count) samples do not fill \(width)x\(height)x3")
        self.width = width
        self.height = height
        self.pixels = pixels
    }

    /// The sample at column `x`, row `y`, channel `c`.
    @inlinable public subscript(x: Int, y: Int, c: Int) -> Float {
        pixels[(y * width + x) * 3 + c]
    }
}
