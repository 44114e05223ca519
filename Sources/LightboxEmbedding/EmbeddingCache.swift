import Foundation
import LightboxCore
import LightboxData
import LightboxImaging
import LightboxModels

/// Embeddings on disk, keyed by image content, preprocessing, augmentation and backbone,
/// so a second run over the same data only trains the head. Each entry carries a SHA-256
/// of its contents: a damaged entry is detected, removed and recomputed.
public final class EmbeddingCache: @unchecked Sendable {
    public let directory: String
    static let magic: [UInt8] = Array("LBE1".utf8)

    /// `directory`: the run's cache folder (`LightboxSettings.folder("embeddings")`) or another.
    public init(directory: String) {
        self.directory = directory
    }

    /// `dicomWindow` is how DICOM pictures were windowed: a file's bytes alone do not say what
    /// picture it became. The default (`first`) adds nothing, so keys made before it stay valid.
    /// `crop` is what a cropped picture adds (`LungCrop.identity`: the kind, the margin and the
    /// locator's SHA-256); nil (whole pictures) adds nothing, so keys made before it stay valid.
    public static func key(contentDigest: String, preprocessor: Preprocessor, augmentation: AugmentationDraw?,
                           backbone: String, dicomWindow: DICOMWindow = .first, crop: String? = nil) -> String {
        let text = "v1|\(backbone)|\(contentDigest)|\(preprocessor.identity)|\(augmentation?.key ?? "original")"
            + (dicomWindow == .first ? "" : "|dicom-window=\(dicomWindow.rawValue)")
            + (crop.map { "|\($0)" } ?? "")
        return SHA256.hex(Data(text.utf8))
    }

    func path(_ key: String) -> String {
        (directory as NSString).appendingPathComponent("\(key.prefix(2))/\(key).bin")
    }

    /// The stored embedding, or nil when absent or damaged (a damaged file is removed).
    public func load(_ key: String, count: Int) -> [Float]? {
        let file = path(key)
        guard let data = FileManager.default.contents(atPath: file) else { return nil }
        let payloadLength = 8 + count * 4
        let bytes = [UInt8](data)
        guard bytes.count == payloadLength + 32, bytes.starts(with: Self.magic),
              SHA256.digest(Data(bytes[0..<payloadLength]))[...] == bytes[payloadLength...]
        else {
            try? FileManager.default.removeItem(atPath: file)
            return nil
        }
        var values = [Float](repeating: 0, count: count)
        values.withUnsafeMutableBytes { dst in
            bytes.withUnsafeBytes { dst.copyMemory(from: UnsafeRawBufferPointer(rebasing: $0[8..<payloadLength])) }
        }
        return values
    }

    public func store(_ key: String, _ values: [Float]) throws {
        var payload = Data(Self.magic)
        var count = UInt32(values.count).littleEndian
        payload.append(Data(bytes: &count, count: 4))
        values.withUnsafeBytes { payload.append(contentsOf: $0) }
        payload.append(contentsOf: SHA256.digest(payload))
        try AtomicFile.write(payload, to: path(key), durable: false)
    }
}
