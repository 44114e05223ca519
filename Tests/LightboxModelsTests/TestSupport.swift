import Foundation
import LightboxCore
import LightboxTestSupport
import XCTest
@testable import LightboxModels

/// Paths shared by the model tests.
enum TestPaths {
    static let fixtures = URL(fileURLWithPath: #filePath).deletingLastPathComponent().appendingPathComponent("Fixtures")
    static let repository = URL(fileURLWithPath: #filePath).deletingLastPathComponent()
        .deletingLastPathComponent().deletingLastPathComponent()
    /// `../shared` beside the repository (read-only development data).
    static let shared = repository.deletingLastPathComponent().appendingPathComponent("shared")

    /// A photograph from Debian's darknet package: installed, or unpacked by scripts/test.sh.
    static func darknetPhoto(_ name: String) -> String? {
        let candidates = ["/usr/share/darknet/data/\(name)",
                          TestSettings.local.folder("test-data/darknet/usr/share/darknet/data/\(name)")]
        return candidates.first { FileManager.default.fileExists(atPath: $0) }
    }

    /// A reference path from reference_embeddings.json, resolved on this machine.
    static func resolve(_ referencePath: String) -> String? {
        if referencePath.hasPrefix("/") { return darknetPhoto((referencePath as NSString).lastPathComponent) }
        let path = shared.appendingPathComponent(referencePath).path
        return FileManager.default.fileExists(atPath: path) ? path : nil
    }

    /// The pretrained weights: tests that need them fail with the setup hint when absent.
    static func pretrained() throws -> MobileNetV2 {
        try MobileNetV2(weights: PretrainedMobileNetV2.load(from: TestSettings.weightsFolder), parallelism: TestSettings.local.threads)
    }
}

/// Runs `body` with the path of a fresh temporary folder (not yet created), removed afterwards.
func withTemporaryFolder(_ body: (String) throws -> Void) rethrows {
    let folder = FileManager.default.temporaryDirectory.appendingPathComponent("lightbox-weights-\(UUID().uuidString)")
    defer { try? FileManager.default.removeItem(at: folder) }
    try body(folder.path)
}
