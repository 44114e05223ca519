import Foundation

/// Expands command-line inputs (files and directories) into image file paths.
public enum ImageFiles {
    /// File name endings treated as images when a directory is expanded.
    public static let extensions: Set<String> = ["png", "jpg", "jpeg"]

    /// Each input in order; a directory becomes its image files (recursively), sorted by path.
    /// A path that does not exist is an error naming it.
    public static func expand(_ inputs: [String]) throws -> [String] {
        var result: [String] = []
        let fm = FileManager.default
        for input in inputs {
            var isDirectory: ObjCBool = false
            guard fm.fileExists(atPath: input, isDirectory: &isDirectory) else {
                throw ImageDecodingError(path: input, reason: .unreadable("no such file or directory"))
            }
            if !isDirectory.boolValue {
                result.append(input)
                continue
            }
            guard let walker = fm.enumerator(atPath: input) else {
                throw ImageDecodingError(path: input, reason: .unreadable("cannot list directory"))
            }
            var found: [String] = []
            for case let relative as String in walker
            where extensions.contains((relative as NSString).pathExtension.lowercased()) {
                found.append((input as NSString).appendingPathComponent(relative))
            }
            result += found.sorted()
        }
        return result
    }
}
