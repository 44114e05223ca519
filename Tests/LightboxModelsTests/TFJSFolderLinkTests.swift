import Foundation
import XCTest
@testable import LightboxModels

/// A TF.js export folder whose model.json, weights shard or metadata.json leads outside it
/// (a link, or a manifest path with `..`): refused, naming the file, quoting none of the
/// target's bytes. Links that stay inside the folder are read.
final class TFJSFolderLinkTests: XCTestCase {
    static let export = TestPaths.shared.appendingPathComponent("models/teachable-machine-image")
    static let secret = Data("SECRET-1".utf8) + Data(repeating: 0x41, count: 56)

    func testFilesLeadingOutOfTheExportFolderAreRefused() throws {
        let work = FileManager.default.temporaryDirectory.appendingPathComponent("lightbox-tfjs-links-\(UUID().uuidString)")
        defer { try? FileManager.default.removeItem(at: work) }
        let folder = work.appendingPathComponent("export"), outside = work.appendingPathComponent("secret.bin")
        try FileManager.default.createDirectory(at: work, withIntermediateDirectories: true)
        try Self.secret.write(to: outside)
        let original = try TFJSLayersModel.load(Self.export.path)
        func fresh() throws {
            try? FileManager.default.removeItem(at: folder)
            try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
            for name in ["model.json", "weights.bin", "metadata.json"] {
                try FileManager.default.copyItem(at: Self.export.appendingPathComponent(name), to: folder.appendingPathComponent(name))
            }
        }
        func refused(_ file: String, _ what: String) {
            XCTAssertThrowsError(try TFJSLayersModel.load(folder.path), what) { error in
                let text = "\(error)"
                XCTAssertTrue(text.contains(folder.appendingPathComponent(file).path) && text.contains("outside"), "\(what): \(text)")
                XCTAssertFalse(text.contains("SECRET") || text.contains("AAAA"), "\(what): \(text)")
            }
        }
        for name in ["model.json", "weights.bin", "metadata.json"] {
            try fresh()
            try FileManager.default.removeItem(at: folder.appendingPathComponent(name))
            try FileManager.default.createSymbolicLink(at: folder.appendingPathComponent(name), withDestinationURL: outside)
            refused(name, "\(name) linked out")
        }
        // A manifest path that climbs out of the folder to a shard beside it.
        try fresh()
        try FileManager.default.moveItem(at: folder.appendingPathComponent("weights.bin"), to: work.appendingPathComponent("weights.bin"))
        let json = try String(contentsOf: folder.appendingPathComponent("model.json"), encoding: .utf8)
        XCTAssertTrue(json.contains("\"weights.bin\""))
        try json.replacingOccurrences(of: "\"weights.bin\"", with: "\"../weights.bin\"")
            .write(to: folder.appendingPathComponent("model.json"), atomically: true, encoding: .utf8)
        refused("../weights.bin", "a manifest path with ..")
        // Links within the folder are followed: the same weights.
        try fresh()
        let inside = folder.appendingPathComponent("shards")
        try FileManager.default.createDirectory(at: inside, withIntermediateDirectories: true)
        try FileManager.default.moveItem(at: folder.appendingPathComponent("weights.bin"), to: inside.appendingPathComponent("weights.bin"))
        try FileManager.default.createSymbolicLink(atPath: folder.appendingPathComponent("weights.bin").path, withDestinationPath: "shards/weights.bin")
        XCTAssertEqual(try TFJSLayersModel.load(folder.path).weightsDigest, original.weightsDigest)
    }
}
