import Foundation
import LightboxCore
import XCTest

/// Where tests that compare with torch find the repository's reference scripts, the developer
/// data beside it, and the torch venv scripts/test.sh makes.
public enum TorchReference {
    /// The repository's root folder.
    public static let repository = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
        .deletingLastPathComponent()
    /// `../shared` beside the repository (read-only development data).
    public static let shared = repository.deletingLastPathComponent().appendingPathComponent("shared")
    /// A real developer X-ray (JPEG), when `../shared` is there.
    public static let xray = shared.appendingPathComponent("data/covid-chestxray/images/000001-12.jpg")

    /// `scripts/reference/NAME`.
    public static func script(_ name: String) -> String {
        repository.appendingPathComponent("scripts/reference/\(name)").path
    }

    /// `$LIGHTBOX_TORCH_PYTHON` (scripts/test.sh sets it), else the venv it makes.
    public static var python: String {
        if let p = ProcessInfo.processInfo.environment["LIGHTBOX_TORCH_PYTHON"], !p.isEmpty { return p }
        return (TestSettings.local.home as NSString).appendingPathComponent("test-data/torch-venv/bin/python")
    }

    /// The venv's python; without it the test is skipped, and under CI (where scripts/test.sh
    /// has made it) it fails.
    public static func requirePython() throws -> String {
        guard FileManager.default.isExecutableFile(atPath: python) else {
            if ProcessInfo.processInfo.environment["CI"] != nil { XCTFail("no torch venv at \(python)") }
            throw XCTSkip("no torch venv at \(python): scripts/test.sh makes it")
        }
        return python
    }
}
