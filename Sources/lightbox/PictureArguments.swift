import Foundation
import LightboxCore
import LightboxImaging

/// The IMAGE_OR_DIR... arguments of `predict` and `lungs`.
enum PictureArguments {
    /// The inputs with each directory replaced by its pictures (searched recursively, in sorted
    /// order). Files stay as given, even missing or unreadable ones: each gets its own error line,
    /// and the others are still processed. A name with a line break or control character is
    /// refused (`FileNames`), as embed refuses it.
    static func expand(_ inputs: [String]) throws -> [String] {
        try FileNames.check(inputs)
        return try inputs.flatMap { input -> [String] in
            var isDirectory: ObjCBool = false
            guard FileManager.default.fileExists(atPath: input, isDirectory: &isDirectory), isDirectory.boolValue else { return [input] }
            let found = try ImageFiles.expand([input])
            if found.isEmpty { throw Terminal.Failure("\(input): no PNG, JPEG or DICOM files in this folder") }
            return found
        }
    }
}
