import Foundation
import LightboxCore

/// Turns image files into `RGBImage`s, choosing the decoder by the file's first bytes
/// (not its name: a JPEG named `.png` still decodes).
public struct ImageDecoder: Sendable {
    /// Images with more pixels than this are refused before any pixel buffer is allocated.
    public var maxPixels: Int
    /// How grey DICOM pictures are brought onto 0...255 (their VOI step).
    public var dicomWindow: DICOMWindow
    /// Told about pictures that decode with a caveat, one line naming the file (a multi-frame
    /// DICOM file of which only the first frame is used); nil: `DecodingWarnings`, where the
    /// executable installed its sink.
    public var onWarning: (@Sendable (String) -> Void)?

    /// `maxPixels` and `dicomWindow` come from the run (its settings, the command's `--dicom-window`
    /// or the model's record); there is no process-wide default.
    public init(maxPixels: Int, dicomWindow: DICOMWindow,
                onWarning: (@Sendable (String) -> Void)? = nil) {
        self.maxPixels = maxPixels
        self.dicomWindow = dicomWindow
        self.onWarning = onWarning
    }

    /// - Parameter reduceFor: how large the picture will be used (`DecodeTarget`); a JPEG much
    ///   larger than that is decoded at 1/2, 1/4 or 1/8 scale in the DCT domain (libjpeg's
    ///   scaled decoding, as Pillow's `draft`), never below what the target needs.
    public func decode(file path: String, reduceFor target: DecodeTarget? = nil) throws -> RGBImage {
        let data: Data
        do {
            data = try Data(contentsOf: URL(fileURLWithPath: path))
        } catch {
            let why = (error as NSError).localizedFailureReason ?? (error as NSError).localizedDescription
            throw ImageDecodingError(path: path, reason: .unreadable(why))
        }
        return try decode(data: [UInt8](data), path: path, reduceFor: target)
    }

    /// Decodes bytes already in memory; `path` only names them in errors.
    public func decode(data: [UInt8], path: String, reduceFor target: DecodeTarget? = nil) throws -> RGBImage {
        switch ImageFormat(sniffing: data) {
        case .png: return try PNGDecoder.decode(data, path: path, maxPixels: maxPixels)
        case .jpeg: return try JPEGDecoder.decode(data, path: path, maxPixels: maxPixels, target: target)
        case .dicom: return try DICOMDecoder.decode(data, path: path, maxPixels: maxPixels, window: dicomWindow,
                                                     warn: onWarning ?? { DecodingWarnings.report($0) })
        case .none:
            throw ImageDecodingError(path: path, reason: data.isEmpty ? .empty : .unknownFormat)
        }
    }

    /// Reads only the header of `data`: the size `decode(data:path:reduceFor:)` returns (EXIF
    /// orientation and scaled decoding included) and an estimate of the bytes that decode
    /// allocates at its peak, without allocating any pixel buffer. Refuses what `decode`
    /// refuses from the header, with the same errors (empty, not an image, over `maxPixels`,
    /// a header the decoder rejects); a picture cut short after its header is only found by
    /// `decode`.
    public func probe(data: [UInt8], path: String, reduceFor target: DecodeTarget? = nil) throws -> ImageHeader {
        switch ImageFormat(sniffing: data) {
        case .png: return try PNGDecoder.probe(data, path: path, maxPixels: maxPixels)
        case .jpeg: return try JPEGDecoder.probe(data, path: path, maxPixels: maxPixels, target: target)
        case .dicom: return try DICOMDecoder.probe(data, path: path, maxPixels: maxPixels)
        case .none:
            throw ImageDecodingError(path: path, reason: data.isEmpty ? .empty : .unknownFormat)
        }
    }
}

/// What a picture's header says, read without decoding it (`ImageDecoder.probe`).
public struct ImageHeader: Sendable, Equatable {
    public var format: ImageFormat
    /// The size `decode` returns: upright, after scaled decoding.
    public var width: Int
    public var height: Int
    /// About the most bytes `decode` holds at once: the buffer the decoder fills (PNG: RGBA8,
    /// or RGB16 for 16-bit images; JPEG: 3 or 4 bytes a pixel), the Float RGB picture (12 bytes
    /// a pixel), a second one when EXIF orientation turns it, and libjpeg's whole-image
    /// coefficient buffer for progressive JPEGs. The encoded input is not counted, except for
    /// DICOM, whose parser keeps a copy of the data set.
    public var decodeBytes: Int
    /// What `decode` will report to `ImageDecoder.onWarning` (a multi-frame DICOM file).
    public var warnings: [String]

    public init(format: ImageFormat, width: Int, height: Int, decodeBytes: Int, warnings: [String] = []) {
        self.format = format
        self.width = width
        self.height = height
        self.decodeBytes = decodeBytes
        self.warnings = warnings
    }
}

/// The encodings Lightbox reads, recognised by their signatures.
public enum ImageFormat: Sendable {
    /// `dicom`: a DICOM file (Part 10) with its 128-byte preamble and "DICM"; files without the
    /// preamble are not recognised.
    case png, jpeg, dicom

    public init?(sniffing bytes: [UInt8]) {
        if bytes.starts(with: [0x89, 0x50, 0x4E, 0x47, 0x0D, 0x0A, 0x1A, 0x0A]) {
            self = .png
        } else if bytes.starts(with: [0xFF, 0xD8, 0xFF]) {
            self = .jpeg
        } else if bytes.count >= 132, bytes[128..<132].elementsEqual([0x44, 0x49, 0x43, 0x4D]) {   // "DICM"
            self = .dicom
        } else {
            return nil
        }
    }
}

/// The smallest picture a consumer needs, so that decoders may skip detail it would discard.
public struct DecodeTarget: Sendable, Equatable {
    public var size: Int
    public var policy: ResizePolicy

    public init(size: Int, policy: ResizePolicy) {
        self.size = size
        self.policy = policy
    }

    /// The reduction 1/s (s in 8, 4, 2, 1) to decode a `width` x `height` picture at: the
    /// largest whose result still covers the target (the short side for crop and stretch,
    /// the long side for pad). The same rule as Pillow's JPEG `draft`.
    public func reduction(width: Int, height: Int) -> Int {
        let request: (Int, Int)
        switch policy {
        case .crop, .stretch: request = (size, size)
        case .pad: request = width >= height ? (size, 1) : (1, size)
        }
        let allowed = min(width / request.0, height / request.1)
        return [8, 4, 2].first { $0 <= allowed } ?? 1
    }
}
