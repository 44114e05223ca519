import CPNG
import Foundation

/// Writes 8-bit RGB images as PNG through libpng's simplified API.
public enum PNGEncoder {
    public struct Failure: Error, CustomStringConvertible { public let description: String }

    /// `rgb`: `width * height * 3` bytes, rows top to bottom.
    public static func encode(rgb: [UInt8], width: Int, height: Int) throws -> Data {
        precondition(rgb.count == width * height * 3)
        // One compression, into a buffer of the PNG's upper bound (libpng's PNG_IMAGE_PNG_SIZE_MAX,
        // a macro Swift cannot import): asking libpng for the size first compressed every picture
        // twice, most of a Studio prediction's time with its heatmap. A picture over 16 MiB
        // starts from a quarter of that instead of the whole bound; when the buffer is short,
        // libpng says how much it needs and the write is made once more.
        let data = height * (width * 3 + 1)
        let compressed = data + 5 * (data / 16383 + 1) + 11
        let bound = 8 + 25 + 16 + 44 + 12 + 12 + 12 * (compressed / 8192 + 1) + compressed
        var capacity = png_alloc_size_t(data <= 16 << 20 ? bound : data / 4 + (64 << 10))
        for _ in 0..<2 {
            var image = png_image()
            image.version = png_uint_32(PNG_IMAGE_VERSION)
            image.width = png_uint_32(width)
            image.height = png_uint_32(height)
            image.format = png_uint_32(PNG_FORMAT_RGB)
            defer { png_image_free(&image) }
            var size = capacity
            var out = [UInt8](repeating: 0, count: Int(capacity))
            let ok = out.withUnsafeMutableBytes { dst in
                rgb.withUnsafeBytes { png_image_write_to_memory(&image, dst.baseAddress, &size, 0, $0.baseAddress, 0, nil) }
            }
            if ok != 0 { return Data(out.prefix(Int(size))) }
            guard size > capacity else { break }
            capacity = size
        }
        throw Failure(description: "libpng could not write the PNG")
    }

    /// An RGBImage (samples 0...255) as PNG.
    public static func encode(_ image: RGBImage) throws -> Data {
        try encode(rgb: image.pixels.map { UInt8(min(max($0.rounded(), 0), 255)) }, width: image.width, height: image.height)
    }
}
