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
            let (width, height, sixteenBit) = try readHeader(&image, raw, path: path, maxPixels: maxPixels)
            var pixels = [Float](repeating: 0, count: width * height * 3)
            if sixteenBit {
                // A 16-bit read keeps the stored values (an 8-bit read would gamma-encode
                // them); the full 16-bit range maps onto 0...255.
                image.format = png_uint_32(PNG_FORMAT_LINEAR_RGB)
                var buffer = [UInt16](repeating: 0, count: width * height * 3)
                let ok = buffer.withUnsafeMutableBytes {
                    png_image_finish_read(&image, nil, $0.baseAddress, 0, nil)
                }
                guard ok != 0 else { throw failure(image, path) }
                for i in 0..<buffer.count { pixels[i] = Float(buffer[i]) / 257 }
            } else {
                // Alpha is applied here, in the stored (sRGB) values, as a browser canvas or
                // Pillow would: libpng's own compositing works in linear light.
                image.format = png_uint_32(PNG_FORMAT_FLAG_COLOR | PNG_FORMAT_FLAG_ALPHA)  // PNG_FORMAT_RGBA
                var buffer = [UInt8](repeating: 0, count: width * height * 4)
                let ok = buffer.withUnsafeMutableBytes {
                    png_image_finish_read(&image, nil, $0.baseAddress, 0, nil)
                }
                guard ok != 0 else { throw failure(image, path) }
                for i in 0..<(width * height) {
                    let alpha = Float(buffer[i * 4 + 3]) / 255
                    for c in 0..<3 { pixels[i * 3 + c] = Float(buffer[i * 4 + c]) * alpha }
                }
            }
            return RGBImage(width: width, height: height, pixels: pixels)
        }
    }

    /// The size `decode` returns and the bytes it allocates at its peak (the Float RGB picture
    /// plus the buffer libpng fills: RGBA8, or RGB16 for 16-bit images), from the chunks
    /// before the image data; no pixel buffer is allocated.
    static func probe(_ data: [UInt8], path: String, maxPixels: Int) throws -> ImageHeader {
        var image = png_image()
        image.version = png_uint_32(PNG_IMAGE_VERSION)
        defer { png_image_free(&image) }
        return try data.withUnsafeBytes { raw -> ImageHeader in
            let (width, height, sixteenBit) = try readHeader(&image, raw, path: path, maxPixels: maxPixels)
            let pixels = width * height
            return ImageHeader(format: .png, width: width, height: height,
                               decodeBytes: pixels * 12 + pixels * (sixteenBit ? 6 : 4))
        }
    }

    /// Reads the chunks before the image data (libpng's begin-read) and checks the size.
    private static func readHeader(_ image: inout png_image, _ raw: UnsafeRawBufferPointer, path: String,
                                   maxPixels: Int) throws -> (width: Int, height: Int, sixteenBit: Bool) {
        guard png_image_begin_read_from_memory(&image, raw.baseAddress, raw.count) != 0 else {
            throw failure(image, path)
        }
        let width = Int(image.width), height = Int(image.height)
        guard width > 0, height > 0 else {
            throw ImageDecodingError(path: path, reason: .corrupt("zero width or height"))
        }
        guard width * height <= maxPixels else {
            throw ImageDecodingError(path: path, reason: .tooLarge(width: width, height: height, limit: maxPixels))
        }
        return (width, height, (image.format & UInt32(PNG_FORMAT_FLAG_LINEAR)) != 0)
    }

    /// libpng's message; running out of bytes (its memory reader's "read beyond end of data")
    /// means the file was cut short.
    private static func failure(_ image: png_image, _ path: String) -> ImageDecodingError {
        var m = image.message
        let text = withUnsafeBytes(of: &m) { raw -> String in
            let bytes = raw.prefix(while: { $0 != 0 })
            return String(decoding: bytes, as: UTF8.self)
        }
        if text == "read beyond end of data" { return ImageDecodingError(path: path, reason: .truncated(text)) }
        return ImageDecodingError(path: path, reason: .corrupt(text.isEmpty ? "libpng error" : text))
    }
}
