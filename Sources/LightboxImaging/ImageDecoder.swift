import Foundation

/// Turns image files into `RGBImage`s, choosing the decoder by the file's first bytes
/// (not its name: a JPEG named `.png` still decodes).
public struct ImageDecoder: Sendable {
    /// Images with more pixels than this are refused before any pixel buffer is allocated.
    public var maxPixels: Int

    public init(maxPixels: Int = 100_000_000) {
        self.maxPixels = maxPixels
    }

    public func decode(file path: String) throws -> RGBImage {
        let data: Data
        do {
            data = try Data(contentsOf: URL(fileURLWithPath: path))
        } catch {
            let why = (error as NSError).localizedFailureReason ?? (error as NSError).localizedDescription
            throw ImageDecodingError(path: path, reason: .unreadable(why))
        }
        return try decode(data: [UInt8](data), path: path)
    }

    /// Decodes bytes already in memory; `path` only names them in errors.
    public func decode(data: [UInt8], path: String) throws -> RGBImage {
        switch ImageFormat(sniffing: data) {
        case .png: return try PNGDecoder.decode(data, path: path, maxPixels: maxPixels)
        case .jpeg: return try JPEGDecoder.decode(data, path: path, maxPixels: maxPixels)
        case .none:
            throw ImageDecodingError(path: path, reason: data.isEmpty ? .empty : .unknownFormat)
        }
    }
}

/// The encodings Lightbox reads, recognised by their signatures.
public enum ImageFormat: Sendable {
    case png, jpeg

    public init?(sniffing bytes: [UInt8]) {
        if bytes.starts(with: [0x89, 0x50, 0x4E, 0x47, 0x0D, 0x0A, 0x1A, 0x0A]) {
            self = .png
        } else if bytes.starts(with: [0xFF, 0xD8, 0xFF]) {
            self = .jpeg
        } else {
            return nil
        }
    }
}
