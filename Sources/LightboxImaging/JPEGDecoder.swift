import CTurboJPEG

/// JPEG through libjpeg-turbo's TurboJPEG API: baseline and progressive;
/// gray, YCbCr and CMYK/YCCK (converted to RGB).
enum JPEGDecoder {
    /// What the header says, checked against the pixel limit.
    struct Header {
        /// As stored, before scaled decoding and EXIF orientation.
        var width: Int, height: Int
        /// The DCT-domain reduction 1/scale decoding will use.
        var scale: Int
        var isCMYK: Bool
        var subsampling: Int32
        var outputWidth: Int { (width + scale - 1) / scale }
        var outputHeight: Int { (height + scale - 1) / scale }
        var channels: Int { isCMYK ? 4 : 3 }
    }

    static func decode(_ data: [UInt8], path: String, maxPixels: Int, target: DecodeTarget? = nil) throws -> RGBImage {
        let handle = try start(path)
        defer { tjDestroy(handle) }
        let header = try readHeader(handle, data, path: path, maxPixels: maxPixels, target: target)
        let width = header.outputWidth, height = header.outputHeight, channels = header.channels
        let isCMYK = header.isCMYK
        let format = isCMYK ? TJPF_CMYK : TJPF_RGB
        var buffer = [UInt8](unsafeUninitializedCapacity: width * height * channels) { _, n in n = width * height * channels }
        let status = data.withUnsafeBufferPointer { src in
            buffer.withUnsafeMutableBufferPointer { dst in
                // Asking for ceil(w / s) x ceil(h / s) makes libjpeg-turbo decode at 1/s.
                tjDecompress2(handle, src.baseAddress, UInt(src.count), dst.baseAddress, Int32(width), 0, Int32(height),
                              Int32(format.rawValue), TJFLAG_ACCURATEDCT)
            }
        }
        // A warning (e.g. extraneous bytes before a marker) still yields the image, as with
        // Pillow; an error, or data that ends before the picture does, does not.
        if status != 0 {
            let fatal = tjGetErrorCode(handle) == Int32(TJERR_FATAL.rawValue)
            let failure = self.failure(handle, data, path)
            if fatal { throw failure }
            if case .truncated = failure.reason { throw failure }
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

    /// The size `decode` returns and the bytes it allocates at its peak, from the header alone.
    static func probe(_ data: [UInt8], path: String, maxPixels: Int, target: DecodeTarget? = nil) throws -> ImageHeader {
        let handle = try start(path)
        defer { tjDestroy(handle) }
        let header = try readHeader(handle, data, path: path, maxPixels: maxPixels, target: target)
        let pixels = header.outputWidth * header.outputHeight
        let orientation = ExifOrientation.read(data) ?? 1
        // The decode buffer, the Float RGB picture, and a second one when EXIF turns it.
        var bytes = pixels * header.channels + pixels * 12 + (orientation >= 2 ? pixels * 12 : 0)
        if JPEGStructure.isMultiScan(data) { bytes += coefficientBytes(header) }
        let turned = orientation >= 5
        return ImageHeader(format: .jpeg, width: turned ? header.outputHeight : header.outputWidth,
                           height: turned ? header.outputWidth : header.outputHeight, decodeBytes: bytes)
    }

    private static func start(_ path: String) throws -> tjhandle {
        guard let handle = tjInitDecompress() else {
            throw ImageDecodingError(path: path, reason: .corrupt("cannot start the JPEG decoder"))
        }
        return handle
    }

    private static func readHeader(_ handle: tjhandle, _ data: [UInt8], path: String, maxPixels: Int,
                                   target: DecodeTarget?) throws -> Header {
        var w: Int32 = 0, h: Int32 = 0, subsampling: Int32 = 0, colorspace: Int32 = 0
        let status = data.withUnsafeBufferPointer {
            tjDecompressHeader3(handle, $0.baseAddress, UInt($0.count), &w, &h, &subsampling, &colorspace)
        }
        // A warning while reading the header (extraneous bytes) still leaves a usable size.
        if status != 0 && !(tjGetErrorCode(handle) == Int32(TJERR_WARNING.rawValue) && w > 0 && h > 0) {
            throw failure(handle, data, path)
        }
        guard w > 0, h > 0 else {
            throw ImageDecodingError(path: path, reason: .corrupt("zero width or height"))
        }
        guard Int(w) * Int(h) <= maxPixels else {
            throw ImageDecodingError(path: path, reason: .tooLarge(width: Int(w), height: Int(h), limit: maxPixels))
        }
        let isCMYK = colorspace == Int32(TJCS_CMYK.rawValue) || colorspace == Int32(TJCS_YCCK.rawValue)
        return Header(width: Int(w), height: Int(h), scale: target?.reduction(width: Int(w), height: Int(h)) ?? 1,
                      isCMYK: isCMYK, subsampling: subsampling)
    }

    /// The error libjpeg-turbo reported on `handle` (read it right after the failing call).
    /// libjpeg reports only its first warning, so a file cut short after another warning is
    /// recognised by its structure too: it never reaches its end-of-image marker.
    private static func failure(_ handle: tjhandle, _ data: [UInt8], _ path: String) -> ImageDecodingError {
        let text = tjGetErrorStr2(handle).map { String(cString: $0) } ?? "libjpeg-turbo error"
        if text.hasPrefix("Premature end of JPEG file") || !JPEGStructure.reachesEndOfImage(data) {
            return ImageDecodingError(path: path, reason: .truncated(text))
        }
        return ImageDecodingError(path: path, reason: .corrupt(text))
    }

    /// libjpeg's whole-image coefficient buffer for multi-scan JPEGs: every component's 8x8
    /// blocks over whole MCUs, 64 coefficients of 2 bytes each, at full size (scaled decoding
    /// reduces the output, not the coefficients).
    private static func coefficientBytes(_ header: Header) -> Int {
        // (MCU width, MCU height, blocks per MCU) for TurboJPEG's subsampling codes.
        let mcu: (Int, Int, Int)
        switch header.subsampling {
        case Int32(TJSAMP_444.rawValue): mcu = (8, 8, header.channels)
        case Int32(TJSAMP_422.rawValue): mcu = (16, 8, 4)
        case Int32(TJSAMP_420.rawValue): mcu = (16, 16, 6)
        case Int32(TJSAMP_GRAY.rawValue): mcu = (8, 8, 1)
        case Int32(TJSAMP_440.rawValue): mcu = (8, 16, 4)
        case Int32(TJSAMP_411.rawValue): mcu = (32, 8, 6)
        default: mcu = (8, 8, header.channels)  // unusual sampling: every component at full size
        }
        let mcus = ((header.width + mcu.0 - 1) / mcu.0) * ((header.height + mcu.1 - 1) / mcu.1)
        return mcus * mcu.2 * 64 * 2
    }
}
