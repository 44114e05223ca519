import CLightboxDICOM
import Foundation
import LightboxCore

/// DICOM radiographs through CLightboxDICOM (DCMTK; OpenJPEG for JPEG 2000; see
/// docs/dicom-library-choice.md), first frame only. Grey pictures go through the standard's
/// steps in its order (PS3.3 C.11): the stored bits (BitsStored at HighBit, the sign), the
/// modality LUT (Modality LUT sequence, else rescale slope and intercept), the VOI LUT
/// (`DICOMWindow`), MONOCHROME1 inverted, onto 0...255 as Float without rounding. Colour: RGB as
/// stored, YBR_FULL converted here (C.7.6.3.1.2), JPEG and JPEG 2000 colour converted by the
/// codec; scaled from BitsStored onto 0...255.
enum DICOMDecoder {
    static func decode(_ data: [UInt8], path: String, maxPixels: Int, window: DICOMWindow,
                       warn: (@Sendable (String) -> Void)?) throws -> RGBImage {
        // The header first, so that a picture over the pixel limit is refused before its pixel
        // data is read (or, deflated, inflated).
        _ = try checkedHeader(File(data, path: path, headerOnly: true), path: path, maxPixels: maxPixels)
        let file = try File(data, path: path, headerOnly: false)
        let h = try checkedHeader(file, path: path, maxPixels: maxPixels)
        if h.frames > 1 { warn?("\(path): \(h.frames) frames, only the first is used") }

        var buffer = [UInt8](repeating: 0, count: Int(h.raw.frame_bytes))
        var photometric = [CChar](repeating: 0, count: 32)
        var planar: Int32 = 0
        var error = [CChar](repeating: 0, count: 256)
        let status = buffer.withUnsafeMutableBytes {
            lightbox_dicom_decode_first_frame(file.handle, $0.baseAddress, $0.count, &photometric, &planar, &error, error.count)
        }
        guard status == LIGHTBOX_DICOM_OK else { throw failure(status, error, path) }

        let pixels: [Float]
        if h.samplesPerPixel == 1 {
            let values = try modalityValues(buffer, h, file: file, path: path)
            pixels = try voi(values, h, window: window, file: file, path: path, warn: warn)
        } else {
            pixels = colour(buffer, h, photometric: string(photometric), planar: planar == 1)
        }
        return RGBImage(width: h.columns, height: h.rows, pixels: pixels)
    }

    /// The size `decode` returns and about the most bytes it holds: DCMTK's copy of the data set
    /// (about the file), the decoded frame, the grey values as Double, the Float RGB picture, and
    /// for JPEG 2000 OpenJPEG's 32-bit planes and the joined codestream, for a deflated file the
    /// inflated data set.
    static func probe(_ data: [UInt8], path: String, maxPixels: Int) throws -> ImageHeader {
        let file = try File(data, path: path, headerOnly: true)
        let h = try checkedHeader(file, path: path, maxPixels: maxPixels)
        let pixels = h.rows * h.columns
        var bytes = data.count + Int(h.raw.frame_bytes) + pixels * 12 + (h.samplesPerPixel == 1 ? pixels * 8 : 0)
        if h.transferSyntax.hasPrefix("1.2.840.10008.1.2.4.9") { bytes += pixels * h.samplesPerPixel * 4 + data.count }
        // Deflated: the inflated data set, twice (the inflated bytes and DCMTK's elements).
        if h.transferSyntax == "1.2.840.10008.1.2.1.99" { bytes += 2 * Int(h.raw.frame_bytes) * h.frames }
        let warnings = h.frames > 1 ? ["\(path): \(h.frames) frames, only the first is used"] : []
        return ImageHeader(format: .dicom, width: h.columns, height: h.rows, decodeBytes: bytes, warnings: warnings)
    }

    /// What the file's header says (for tests and, later, grouping by patient).
    static func header(_ data: [UInt8], path: String) throws -> lightbox_dicom_header {
        try File(data, path: path, headerOnly: true).header
    }

    // MARK: - The file and its header

    /// A parsed file; closed when released.
    final class File {
        let handle: OpaquePointer
        let header: lightbox_dicom_header

        init(_ data: [UInt8], path: String, headerOnly: Bool) throws {
            var handle: OpaquePointer?
            var header = lightbox_dicom_header()
            var error = [CChar](repeating: 0, count: 256)
            let status = data.withUnsafeBufferPointer {
                lightbox_dicom_open($0.baseAddress, $0.count, headerOnly ? 1 : 0, &handle, &header, &error, error.count)
            }
            guard status == LIGHTBOX_DICOM_OK, let handle else { throw DICOMDecoder.failure(status, error, path) }
            self.handle = handle
            self.header = header
        }

        deinit { lightbox_dicom_close(handle) }
    }

    /// The header's facts as Swift values, checked: what `decode` would refuse from the header is
    /// refused here, before any pixel buffer exists.
    struct Header {
        var raw: lightbox_dicom_header
        var rows: Int, columns: Int, frames: Int, samplesPerPixel: Int
        var bitsAllocated: Int, bitsStored: Int, highBit: Int, signed: Bool
        var photometric: String, transferSyntax: String
    }

    static func checkedHeader(_ file: File, path: String, maxPixels: Int) throws -> Header {
        let r = file.header
        let h = Header(raw: r, rows: Int(r.rows), columns: Int(r.columns), frames: Int(r.frames),
                       samplesPerPixel: Int(r.samples_per_pixel), bitsAllocated: Int(r.bits_allocated),
                       bitsStored: Int(r.bits_stored), highBit: Int(r.high_bit), signed: r.pixel_representation == 1,
                       photometric: string(r.photometric), transferSyntax: string(r.transfer_syntax))
        func corrupt(_ why: String) -> ImageDecodingError { ImageDecodingError(path: path, reason: .corrupt(why)) }
        func unsupported(_ why: String) -> ImageDecodingError { ImageDecodingError(path: path, reason: .unsupported(why)) }

        guard r.transfer_syntax_supported != 0 else {
            throw unsupported("unsupported transfer syntax \(h.transferSyntax) (\(string(r.transfer_syntax_name)))")
        }
        guard h.rows > 0, h.columns > 0 else { throw corrupt("zero width or height (Rows \(h.rows), Columns \(h.columns))") }
        guard h.rows * h.columns <= maxPixels else {
            throw ImageDecodingError(path: path, reason: .tooLarge(width: h.columns, height: h.rows, limit: maxPixels))
        }
        guard h.frames >= 1 else { throw corrupt("NumberOfFrames \(h.frames)") }
        guard [8, 16, 32].contains(h.bitsAllocated) else { throw unsupported("BitsAllocated \(h.bitsAllocated)") }
        guard h.bitsStored >= 1, h.bitsStored <= h.bitsAllocated, h.highBit >= h.bitsStored - 1, h.highBit < h.bitsAllocated else {
            throw corrupt("BitsStored \(h.bitsStored) and HighBit \(h.highBit) do not fit BitsAllocated \(h.bitsAllocated)")
        }
        guard r.pixel_representation == 0 || r.pixel_representation == 1 else {
            throw corrupt("PixelRepresentation \(r.pixel_representation)")
        }
        let native = ["1.2.840.10008.1.2", "1.2.840.10008.1.2.1", "1.2.840.10008.1.2.1.99"].contains(h.transferSyntax)
        switch (h.samplesPerPixel, h.photometric) {
        case (1, "MONOCHROME1"), (1, "MONOCHROME2"), (3, "RGB"), (3, "YBR_FULL"), (3, "YBR_RCT"), (3, "YBR_ICT"):
            break
        case (3, "YBR_FULL_422") where !native:   // the codec returns full-size samples
            break
        default:
            throw unsupported("\(h.samplesPerPixel) sample(s) per pixel, photometric interpretation \(h.photometric)"
                              + (native ? " without compression" : ""))
        }
        return h
    }

    // MARK: - Grey: stored values, modality LUT, VOI LUT

    /// The stored values (BitsStored bits ending at HighBit, sign-extended when signed) through
    /// the modality LUT: the Modality LUT sequence when present, else slope x value + intercept.
    static func modalityValues(_ buffer: [UInt8], _ h: Header, file: File, path: String) throws -> [Double] {
        let count = h.rows * h.columns
        let shift = h.highBit + 1 - h.bitsStored
        let mask: UInt32 = h.bitsStored == 32 ? .max : (1 << UInt32(h.bitsStored)) - 1
        let sign: UInt32 = 1 << UInt32(h.bitsStored - 1)
        let signed = h.signed
        var stored = [Double](repeating: 0, count: count)
        buffer.withUnsafeBytes { raw in
            for i in 0..<count {
                let word: UInt32
                switch h.bitsAllocated {
                case 8: word = UInt32(raw[i])
                case 16: word = UInt32(raw.loadUnaligned(fromByteOffset: i * 2, as: UInt16.self).littleEndian)
                default: word = raw.loadUnaligned(fromByteOffset: i * 4, as: UInt32.self).littleEndian
                }
                let v = (word >> UInt32(shift)) & mask
                stored[i] = signed && v & sign != 0 ? Double(Int64(v) - Int64(mask) - 1) : Double(v)
            }
        }
        let r = h.raw
        if r.has_modality_lut != 0 {
            let lut = try table(file, which: 0, entries: Int(r.modality_lut_entries), path: path)
            let first = Double(r.modality_lut_first_mapped), last = Double(lut.count - 1)
            for i in 0..<count { stored[i] = lut[Int(min(max(stored[i] - first, 0), last))] }
        } else if r.rescale_slope != 1 || r.rescale_intercept != 0 {
            let slope = r.rescale_slope, intercept = r.rescale_intercept
            for i in 0..<count { stored[i] = stored[i] * slope + intercept }
        }
        return stored
    }

    /// The VOI step onto 0...255, MONOCHROME1 inverted, repeated into R, G and B.
    static func voi(_ values: [Double], _ h: Header, window: DICOMWindow, file: File, path: String,
                    warn: (@Sendable (String) -> Void)?) throws -> [Float] {
        let r = h.raw
        var map: (Double) -> Double
        let function = string(r.voi_lut_function)
        let width = r.window_width, centre = r.window_center
        let usableWindow = r.has_window != 0 && (function == "LINEAR" ? width >= 1 : width > 0)
        if r.has_window != 0 && !usableWindow && r.has_voi_lut == 0 && window == .first {
            warn?("\(path): window width \(width) is not usable, min-max used instead")
        }
        if window == .first && r.has_voi_lut != 0 {
            // A LUT indexed by (value - first mapped), clamped to its ends; outputs 0...2^bits - 1.
            let lut = try table(file, which: 1, entries: Int(r.voi_lut_entries), path: path)
            let first = Double(r.voi_lut_first_mapped), last = Double(lut.count - 1)
            let scale = 255 / (pow2(Int(r.voi_lut_bits)) - 1)
            map = { lut[Int(min(max(($0 - first).rounded(.down), 0), last))] * scale }
        } else if window == .first && usableWindow {
            switch function {
            case "LINEAR_EXACT":
                map = { min(max(($0 - centre) / width + 0.5, 0), 1) * 255 }
            case "SIGMOID":
                map = { 255 / (1 + exp(-4 * ($0 - centre) / width)) }
            default:   // LINEAR (C.11.2.1.2.1)
                map = { min(max(($0 - (centre - 0.5)) / (width - 1) + 0.5, 0), 1) * 255 }
            }
        } else {
            var low = Double.infinity, high = -Double.infinity
            for v in values { low = min(low, v); high = max(high, v) }
            let scale = high > low ? 255 / (high - low) : 0
            map = { ($0 - low) * scale }
        }
        let invert = h.photometric == "MONOCHROME1"
        return [Float](unsafeUninitializedCapacity: values.count * 3) { out, n in
            for i in 0..<values.count {
                var v = map(values[i])
                if invert { v = 255 - v }
                let f = Float(v)
                out[i * 3] = f; out[i * 3 + 1] = f; out[i * 3 + 2] = f
            }
            n = values.count * 3
        }
    }

    /// A LUT's entries as Double.
    static func table(_ file: File, which: Int32, entries: Int, path: String) throws -> [Double] {
        guard entries > 0 else { throw ImageDecodingError(path: path, reason: .corrupt("a LUT with no entries")) }
        var words = [UInt32](repeating: 0, count: entries)
        var error = [CChar](repeating: 0, count: 256)
        let status = lightbox_dicom_lut(file.handle, which, &words, entries, &error, error.count)
        guard status == LIGHTBOX_DICOM_OK else { throw failure(status, error, path) }
        return words.map(Double.init)
    }

    // MARK: - Colour

    /// RGB or YBR_FULL samples (interleaved or planar) onto 0...255 RGB.
    static func colour(_ buffer: [UInt8], _ h: Header, photometric: String, planar: Bool) -> [Float] {
        let count = h.rows * h.columns
        let top = pow2(h.bitsStored) - 1, half = pow2(h.bitsStored - 1)
        let scale = Float(255 / top)
        let ybr = photometric.hasPrefix("YBR_FULL")
        let shift = UInt32(h.highBit + 1 - h.bitsStored)
        let mask: UInt32 = h.bitsStored == 32 ? .max : (1 << UInt32(h.bitsStored)) - 1
        return buffer.withUnsafeBytes { raw in
            func sample(_ i: Int, _ c: Int) -> Double {
                let at = planar ? c * count + i : i * 3 + c
                let word: UInt32
                switch h.bitsAllocated {
                case 8: word = UInt32(raw[at])
                case 16: word = UInt32(raw.loadUnaligned(fromByteOffset: at * 2, as: UInt16.self).littleEndian)
                default: word = raw.loadUnaligned(fromByteOffset: at * 4, as: UInt32.self).littleEndian
                }
                return Double((word >> shift) & mask)
            }
            return [Float](unsafeUninitializedCapacity: count * 3) { out, n in
                for i in 0..<count {
                    var (r, g, b) = (sample(i, 0), sample(i, 1), sample(i, 2))
                    if ybr {
                        // YCbCr full range (PS3.3 C.7.6.3.1.2), kept in the stored range.
                        let y = r, cb = g - half, cr = b - half
                        r = min(max(y + 1.402 * cr, 0), top)
                        g = min(max(y - 0.344136 * cb - 0.714136 * cr, 0), top)
                        b = min(max(y + 1.772 * cb, 0), top)
                    }
                    out[i * 3] = Float(r) * scale; out[i * 3 + 1] = Float(g) * scale; out[i * 3 + 2] = Float(b) * scale
                }
                n = count * 3
            }
        }
    }

    // MARK: - Helpers

    static func pow2(_ bits: Int) -> Double { Double(sign: .plus, exponent: bits, significand: 1) }

    /// A NUL-terminated C string held in a fixed-size array or tuple.
    static func string<T>(_ value: T) -> String {
        withUnsafeBytes(of: value) { String(decoding: $0.prefix(while: { $0 != 0 }), as: UTF8.self) }
    }

    static func string(_ chars: [CChar]) -> String {
        String(decoding: chars.prefix(while: { $0 != 0 }).map { UInt8(bitPattern: $0) }, as: UTF8.self)
    }

    static func failure(_ status: lightbox_dicom_status, _ error: [CChar], _ path: String) -> ImageDecodingError {
        let message = string(error)
        switch status {
        case LIGHTBOX_DICOM_TRUNCATED: return ImageDecodingError(path: path, reason: .truncated(message))
        case LIGHTBOX_DICOM_UNSUPPORTED: return ImageDecodingError(path: path, reason: .unsupported(message))
        default: return ImageDecodingError(path: path, reason: .corrupt(message.isEmpty ? "DICOM decoder error" : message))
        }
    }
}
