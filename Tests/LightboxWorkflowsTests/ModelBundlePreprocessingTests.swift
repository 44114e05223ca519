import Foundation
import LightboxImaging
import LightboxInterop
import XCTest

/// The manifest's `preprocessing` with typed `resize` and `equalize`: the same JSON as when they
/// were strings (same keys, same raw values, `equalize` absent when none), read back equal.
final class ModelBundlePreprocessingTests: XCTestCase {
    func json(_ p: ModelBundle.Preprocessing) throws -> String {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys]
        return String(decoding: try encoder.encode(p), as: UTF8.self)
    }

    func testManifestTextIsUnchanged() throws {
        let plain = ModelBundle.Preprocessing(Preprocessor())
        XCTAssertEqual(try json(plain),
                       #"{"dicom_window":"first","mean":[0.485,0.456,0.406],"resize":"crop","size":224,"std":[0.229,0.224,0.225]}"#)
        let equalised = ModelBundle.Preprocessing(Preprocessor(policy: .pad, equalization: .clahe), dicomWindow: .minmax)
        XCTAssertEqual(try json(equalised),
                       #"{"dicom_window":"minmax","equalize":"clahe","mean":[0.485,0.456,0.406],"resize":"pad","size":224,"std":[0.229,0.224,0.225]}"#)
        for p in [plain, equalised] {
            XCTAssertEqual(try JSONDecoder().decode(ModelBundle.Preprocessing.self, from: Data(try json(p).utf8)), p)
        }
        // Written before the DICOM window was recorded: no key, no equalize.
        let old = try JSONDecoder().decode(ModelBundle.Preprocessing.self,
                                           from: Data(#"{"size":224,"resize":"stretch","mean":[0,0,0],"std":[1,1,1]}"#.utf8))
        XCTAssertEqual(old.resize, .stretch)
        XCTAssertEqual(old.equalize, .none)
        XCTAssertNil(old.dicomWindow)
    }

    func testUnknownValuesAreRefusedNamingTheManifestAndTheValue() throws {
        let folder = FileManager.default.temporaryDirectory.appendingPathComponent("lightbox-preprocessing-\(UUID().uuidString)")
        defer { try? FileManager.default.removeItem(at: folder) }
        try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
        let manifest = folder.appendingPathComponent(ModelBundle.manifestName)
        for (key, value, words) in [("resize", "zoom", "preprocessing resize 'zoom' is not crop, pad or stretch"),
                                    ("equalize", "sharpen", "preprocessing equalize 'sharpen' is not none, clahe or histogram")] {
            var preprocessing: [String: Any] = ["size": 224, "resize": "crop", "mean": [0.5, 0.5, 0.5], "std": [0.5, 0.5, 0.5]]
            preprocessing[key] = value
            let json: [String: Any] = ["format": "lightbox-model", "format_version": 1, "classes": ["a", "b"],
                                       "backbone": ["id": "x", "weights_sha256": ""], "preprocessing": preprocessing]
            try JSONSerialization.data(withJSONObject: json).write(to: manifest)
            XCTAssertThrowsError(try ModelBundle.read(from: folder.path)) {
                XCTAssertEqual("\($0)", "\(manifest.path): \(words)")
            }
        }
    }
}
