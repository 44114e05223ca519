import CPNG
import Foundation

/// Writes 8-bit RGB images as PNG through libpng's simplified API.
public enum PNGEncoder {
    public struct Failure: Error, CustomStringConvertible { public let description: String }

    /// `rgb`: `width * height * 3` bytes, rows top to bottom.
    public static func encode(rgb: [UInt8], width: Int, height: Int) throws -> Data {
        precondition(rgb.count == width * height * 3)
        var image = png_image()
        image.version = png_uint_32(PNG_IMAGE_VERSION)
        image.width = png_uint_32(width)
        image.height = png_uint_32(height)
        image.format = png_uint_32(PNG_FORMAT_RGB)
        defer { png_image_free(&image) }
        var size: png_alloc_size_t = 0
        let probe = rgb.withUnsafeBytes { png_image_write_to_memory(&image, nil, &size, 0, $0.baseAddress, 0, nil) }
        guard probe != 0, size > 0 else { throw Failure(description: "libpng could not size the PNG") }
        var out = [UInt8](repeating: 0, count: Int(size))
        let ok = out.withUnsafeMutableBytes { dst in
            rgb.withUnsafeBytes { png_image_write_to_memory(&image, dst.baseAddress, &size, 0, $0.baseAddress, 0, nil) }
        }
        guard ok != 0 else { throw Failure(description: "libpng could not write the PNG") }
        return Data(out.prefix(Int(size)))
    }

    /// An RGBImage (samples 0...255) as PNG.
    public static func encode(_ image: RGBImage) throws -> Data {
        try encode(rgb: image.pixels.map { UInt8(min(max($0.rounded(), 0), 255)) }, width: image.width, height: image.height)
    }
}
