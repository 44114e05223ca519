import CTurboJPEG

/// JPEG through libjpeg-turbo's TurboJPEG API: baseline and progressive;
/// gray, YCbCr and CMYK/YCCK (converted to RGB).
enum JPEGDecoder {
    static func decode(_ data: [UInt8], path: String, maxPixels: Int, target: DecodeTarget? = nil) throws -> RGBImage {
        guard let handle = tjInitDecompress() else {
            throw ImageDecodingError(path: path, reason: .corrupt("cannot start the JPEG decoder"))
        }
        defer { tjDestroy(handle) }

        var data = data
        let size = UInt(data.count)
        var w: Int32 = 0, h: Int32 = 0, subsampling: Int32 = 0, colorspace: Int32 = 0
        let header = data.withUnsafeMutableBufferPointer {
            tjDecompressHeader3(handle, $0.baseAddress, size, &w, &h, &subsampling, &colorspace)
        }
        guard header == 0 else { throw error(handle, path) }
        guard w > 0, h > 0 else {
            throw ImageDecodingError(path: path, reason: .corrupt("zero width or height"))
        }
        guard Int(w) * Int(h) <= maxPixels else {
            throw ImageDecodingError(path: path, reason: .tooLarge(width: Int(w), height: Int(h), limit: maxPixels))
        }
        // Scaled decoding: asking for ceil(w / s) x ceil(h / s) makes libjpeg-turbo pick 1/s.
        let s = Int32(target?.reduction(width: Int(w), height: Int(h)) ?? 1)
        w = (w + s - 1) / s
        h = (h + s - 1) / s
        let width = Int(w), height = Int(h)

        let isCMYK = colorspace == Int32(TJCS_CMYK.rawValue) || colorspace == Int32(TJCS_YCCK.rawValue)
        let channels = isCMYK ? 4 : 3
        let format = isCMYK ? TJPF_CMYK : TJPF_RGB
        var buffer = [UInt8](unsafeUninitializedCapacity: width * height * channels) { _, n in n = width * height * channels }
        let status = data.withUnsafeMutableBufferPointer { src in
            buffer.withUnsafeMutableBufferPointer { dst in
                tjDecompress2(handle, src.baseAddress, size, dst.baseAddress, w, 0, h,
                              Int32(format.rawValue), TJFLAG_ACCURATEDCT)
            }
        }
        // A warning (e.g. a truncated file) still yields an image; an error does not.
        if status != 0 && tjGetErrorCode(handle) == Int32(TJERR_FATAL.rawValue) {
            throw error(handle, path)
        }

        let pixels = [Float](unsafeUninitializedCapacity: width * height * 3) { out, n in
            buffer.withUnsafeBufferPointer { b in
                if isCMYK {
                    // CMYK JPEGs (Adobe's convention) store inverted inks, so each stored value
                    // is already "amount of light": RGB = stored(C|M|Y) * stored(K) / 255.
                    for i in 0..<(width * height) {
                        let k = Float(b[i * 4 + 3])
                        for c in 0..<3 { out[i * 3 + c] = Float(b[i * 4 + c]) * k / 255 }
                    }
                } else {
                    for i in 0..<b.count { out[i] = Float(b[i]) }
                }
            }
            n = width * height * 3
        }
        let decoded = RGBImage(width: width, height: height, pixels: pixels)
        // Honour the camera's EXIF orientation, as image viewers do.
        return ExifOrientation.read(data).map { ExifOrientation.apply($0, to: decoded) } ?? decoded
    }

    private static func error(_ handle: tjhandle, _ path: String) -> ImageDecodingError {
        let text = tjGetErrorStr2(handle).map { String(cString: $0) } ?? "libjpeg-turbo error"
        return ImageDecodingError(path: path, reason: .corrupt(text))
    }
}
