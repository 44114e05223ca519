import Foundation

/// Project and class names as the Studio stores them: trimmed, Unicode NFC, 1-100
/// characters, no control characters (nor line separators or bidirectional overrides, which
/// can make a name read as another). Two names equal after this are the same name.
enum Names {
    static let maxCharacters = 100
    /// A bound on bytes too: one "character" can carry any number of combining marks.
    static let maxUTF8Bytes = 400

    static func normalized(_ raw: String, what: String) throws -> String {
        let name = raw.trimmingCharacters(in: .whitespaces).precomposedStringWithCanonicalMapping
        let rule = "\(what) name must be 1-\(maxCharacters) characters, without control characters"
        guard !name.isEmpty, name.count <= maxCharacters, name.utf8.count <= maxUTF8Bytes else {
            throw StudioError(.badRequest, rule + " (got \(name.count) characters)")
        }
        if let bad = name.unicodeScalars.first(where: isForbidden) {
            throw StudioError(.badRequest, rule + String(format: " (U+%04X is not allowed)", bad.value))
        }
        return name
    }

    static func isForbidden(_ s: Unicode.Scalar) -> Bool {
        switch s.properties.generalCategory {
        case .control, .lineSeparator, .paragraphSeparator, .surrogate, .unassigned, .privateUse: return true
        default: break
        }
        // Bidirectional embeddings, overrides and isolates (U+202A-202E, U+2066-2069).
        return (0x202A...0x202E).contains(s.value) || (0x2066...0x2069).contains(s.value)
    }
}
