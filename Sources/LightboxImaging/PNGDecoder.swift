import CPNG

/// PNG through libpng's simplified API: 8/16-bit; gray, gray+alpha, RGB, RGBA,
/// palette (with or without transparency), interlaced. Alpha is composited over black:
/// `rgb * alpha` in the stored values for 8-bit images; 16-bit images come premultiplied
/// in linear values from libpng, which is the same composite over black.
enum PNGDecoder {
    static func decode(_ data: [UInt8], path: String, maxPixels: Int) throws -> RGBImage {
        var image = png_image()
        image.version = png_uint_32(PNG_IMAGE_VERSION)
        defer { png_image_free(&image) }

        // libpng keeps the data pointer between begin and finish: both inside one closure.
        return try data.withUnsafeBytes { raw -> RGBImage in
            guard png_image_begin_read_from_memory(&image, raw.baseAddress, raw.count) != 0 else {
                throw ImageDecodingError(path: path, reason: .corrupt(message(of: image)))
            }
            let width = Int(image.width), height = Int(image.height)
            guard width > 0, height > 0 else {
                throw ImageDecodingError(path: path, reason: .corrupt("zero width or height"))
            }
            guard width * height <= maxPixels else {
                throw ImageDecodingError(path: path, reason: .tooLarge(width: width, height: height, limit: maxPixels))
            }
            let sixteenBit = (image.format & UInt32(PNG_FORMAT_FLAG_LINEAR)) != 0
            var pixels = [Float](repeating: 0, count: width * height * 3)
            if sixteenBit {
                // A 16-bit read keeps the stored values (an 8-bit read would gamma-encode
                // them); the full 16-bit range maps onto 0...255.
                image.format = png_uint_32(PNG_FORMAT_LINEAR_RGB)
                var buffer = [UInt16](repeating: 0, count: width * height * 3)
                let ok = buffer.withUnsafeMutableBytes {
                    png_image_finish_read(&image, nil, $0.baseAddress, 0, nil)
                }
                guard ok != 0 else { throw ImageDecodingError(path: path, reason: .corrupt(message(of: image))) }
                for i in 0..<buffer.count { pixels[i] = Float(buffer[i]) / 257 }
            } else {
                // Alpha is applied here, in the stored (sRGB) values, as a browser canvas or
                // Pillow would: libpng's own compositing works in linear light.
                image.format = png_uint_32(PNG_FORMAT_FLAG_COLOR | PNG_FORMAT_FLAG_ALPHA)  // PNG_FORMAT_RGBA
                var buffer = [UInt8](repeating: 0, count: width * height * 4)
                let ok = buffer.withUnsafeMutableBytes {
                    png_image_finish_read(&image, nil, $0.baseAddress, 0, nil)
                }
                guard ok != 0 else { throw ImageDecodingError(path: path, reason: .corrupt(message(of: image))) }
                for i in 0..<(width * height) {
                    let alpha = Float(buffer[i * 4 + 3]) / 255
                    for c in 0..<3 { pixels[i * 3 + c] = Float(buffer[i * 4 + c]) * alpha }
                }
            }
            return RGBImage(width: width, height: height, pixels: pixels)
        }
    }

    private static func message(of image: png_image) -> String {
        var m = image.message
        let text = withUnsafeBytes(of: &m) { raw -> String in
            let bytes = raw.prefix(while: { $0 != 0 })
            return String(decoding: bytes, as: UTF8.self)
        }
        return text.isEmpty ? "libpng error" : text
    }
}
