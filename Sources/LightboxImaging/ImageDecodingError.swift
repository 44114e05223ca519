/// Why an image file could not be turned into pixels. Its description names the file.
public struct ImageDecodingError: Error, CustomStringConvertible, Sendable {
    public enum Reason: Sendable, Equatable {
        case unreadable(String)          // the file could not be read from disk
        case empty                       // zero bytes
        case unknownFormat               // neither PNG, JPEG nor DICOM by its first bytes
        case corrupt(String)             // the decoder refused the data
        case truncated(String)           // the data ends before the picture does (refused, as Pillow does)
        case tooLarge(width: Int, height: Int, limit: Int)  // refused before allocating
        case unsupported(String)         // a well-formed encoding Lightbox does not decode (a DICOM transfer syntax, a pixel layout)
    }

    public let path: String
    public let reason: Reason

    public init(path: String, reason: Reason) {
        self.path = path
        self.reason = reason
    }

    public var description: String { "\(path): \(problem)" }

    /// What is wrong, without the file's name (for lists that name the file beside it).
    public var problem: String {
        switch reason {
        case .unreadable(let why): return "cannot read file (\(why))"
        case .empty: return "file is empty (0 bytes)"
        case .unknownFormat: return "not a PNG or JPEG image, nor DICOM (unrecognised file header)"
        case .corrupt(let why): return "corrupt or unsupported image data (\(why))"
        case .truncated(let why): return "image file is truncated (\(why))"
        case .tooLarge(let w, let h, let limit): return "image is \(w)x\(h) pixels, over the limit of \(limit) pixels"
        case .unsupported(let why): return why
        }
    }
}
