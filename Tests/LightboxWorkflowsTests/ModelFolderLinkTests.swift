import Foundation
import LightboxInterop
import LightboxModels
import XCTest

/// A Lightbox model folder whose files are links to a file outside it (the manifest, a
/// member's weights, the training digests): refused, naming the file, and no byte of the
/// target appears in the error. A link that stays inside the folder is read.
final class ModelFolderLinkTests: XCTestCase {
    /// Recognisable bytes; the first eight, read as a safetensors header length, are what a
    /// reader that followed the link used to quote.
    static let secret = Data("SECRET-1".utf8) + Data(repeating: 0x41, count: 56) + Data("\n".utf8)
    static var secretAsLength: String {
        var length = 0
        for i in 0..<8 { length |= Int(secret[i]) << (8 * i) }
        return "\(length)"
    }

    /// A two-class bundle of one 4-2-2 dense head, its training digests in a file.
    func writeBundle(in folder: URL) throws {
        let manifest: [String: Any] = [
            "format": "lightbox-model", "format_version": 1, "classes": ["a", "b"], "backbone": ["id": "x", "weights_sha256": ""],
            "preprocessing": ["size": 224, "resize": "crop", "mean": [0.5, 0.5, 0.5], "std": [0.5, 0.5, 0.5]],
            "head": ["inputs": 4, "hidden": 2, "activation": "relu", "output": "softmax", "output_bias": false, "weights": "head.safetensors"],
            "training_digests": "training-digests.txt"]
        try JSONSerialization.data(withJSONObject: manifest).write(to: folder.appendingPathComponent(ModelBundle.manifestName))
        let tensors = ["dense1.weight": Tensor(shape: [2, 4], values: [Float](repeating: 0.1, count: 8)),
                       "dense1.bias": Tensor(shape: [2], values: [0, 0]),
                       "dense2.weight": Tensor(shape: [2, 2], values: [1, 0, 0, 1])]
        try SafeTensors.encode(tensors).write(to: folder.appendingPathComponent("head.safetensors"))
        try Data((String(repeating: "a", count: 64) + "\n").utf8).write(to: folder.appendingPathComponent("training-digests.txt"))
    }

    func testLinksOutOfTheModelFolderAreRefusedWithoutQuotingTheTarget() throws {
        let work = FileManager.default.temporaryDirectory.appendingPathComponent("lightbox-links-\(UUID().uuidString)")
        defer { try? FileManager.default.removeItem(at: work) }
        let folder = work.appendingPathComponent("model"), outside = work.appendingPathComponent("secret.txt")
        try FileManager.default.createDirectory(at: work, withIntermediateDirectories: true)
        try Self.secret.write(to: outside)
        for linked in [ModelBundle.manifestName, "head.safetensors", "training-digests.txt"] {
            try? FileManager.default.removeItem(at: folder)
            try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
            try writeBundle(in: folder)
            XCTAssertEqual(try ModelBundle.read(from: folder.path).trainingDigests, [String(repeating: "a", count: 64)])
            let file = folder.appendingPathComponent(linked)
            try FileManager.default.removeItem(at: file)
            try FileManager.default.createSymbolicLink(at: file, withDestinationURL: outside)
            XCTAssertThrowsError(try ModelBundle.read(from: folder.path), linked) { error in
                let text = "\(error)"
                XCTAssertTrue(text.contains(file.path) && text.contains("outside"), "\(linked): \(text)")
                XCTAssertFalse(text.contains("SECRET") || text.contains("AAAA") || text.contains(Self.secretAsLength), "\(linked): \(text)")
            }
        }
        // A link to a file inside the folder is read as that file.
        try? FileManager.default.removeItem(at: folder)
        try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
        try writeBundle(in: folder)
        try FileManager.default.moveItem(at: folder.appendingPathComponent("head.safetensors"), to: folder.appendingPathComponent("real.safetensors"))
        try FileManager.default.createSymbolicLink(atPath: folder.appendingPathComponent("head.safetensors").path, withDestinationPath: "real.safetensors")
        XCTAssertEqual(try ModelBundle.read(from: folder.path).classes, ["a", "b"])
    }
}
