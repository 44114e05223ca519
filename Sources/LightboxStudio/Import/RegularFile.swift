import Foundation
import LightboxCore

/// Reads a file for import only if it is what it claims: a regular file whose real path
/// (every symlink resolved) lies under one of the allowed roots. FIFOs, devices and
/// directories are refused without opening them in a way that could block. The rule is
/// `ContainedFile`'s, the one model folders are read by too.
enum RegularFile {
    typealias Refusal = ContainedFile.Refusal

    /// Checks that `path` is a regular file under `roots` of at most `maxBytes`, without reading
    /// it (for the table a data set is described by, which the data set reader then reads).
    static func check(_ path: String, roots: [String], maxBytes: Int) throws {
        try ContainedFile.check(path, roots: roots, maxBytes: maxBytes)
    }

    /// `roots` are real paths already. Returns the bytes, or throws a reason for the skip list.
    static func read(_ path: String, roots: [String], maxBytes: Int) throws -> Data {
        try ContainedFile.read(path, roots: roots, maxBytes: maxBytes)
    }

    static func realPath(_ path: String) -> String? { ContainedFile.realPath(path) }

    static func isInside(_ path: String, roots: [String]) -> Bool { ContainedFile.isInside(path, roots: roots) }
}
