import Foundation

/// The one rule for the names of files Lightbox reads or writes: no line break or other control
/// character. Paths are listed one a line (embed's FILE.npy.txt, a Slurm task's list of
/// pictures) and written into Slurm batch scripts, where such a name splits into two entries or
/// runs as a command; it is checked where a name enters (command-line paths, expanded folders,
/// a data set's pictures, the list a Slurm task reads), before any work.
public enum FileNames {
    /// C0 and C1 control characters and DEL (a tab included).
    public static func isControl(_ scalar: Unicode.Scalar) -> Bool {
        scalar.value < 0x20 || (0x7f...0x9f).contains(scalar.value)
    }

    public static func hasControlCharacter(_ name: String) -> Bool {
        name.unicodeScalars.contains(where: isControl)
    }

    /// Throws `UnsafeFileNameError` naming the first path that holds a control character.
    public static func check(_ paths: some Sequence<String>) throws {
        if let bad = paths.first(where: hasControlCharacter) { throw UnsafeFileNameError(path: bad) }
    }

    public static func check(_ path: String) throws { try check(CollectionOfOne(path)) }

    /// `name` quoted, its control characters escaped as Swift writes them (`\n`, `\u{1B}`), so a
    /// message that shows it stays one line and shows nothing to a terminal.
    public static func shown(_ name: String) -> String {
        var text = "\""
        for scalar in name.unicodeScalars {
            switch scalar {
            case "\n": text += "\\n"
            case "\r": text += "\\r"
            case "\t": text += "\\t"
            case "\"": text += "\\\""
            case "\\": text += "\\\\"
            default: text += isControl(scalar) ? "\\u{\(String(scalar.value, radix: 16, uppercase: true))}" : String(scalar)
            }
        }
        return text + "\""
    }
}

/// A path refused by `FileNames.check`.
public struct UnsafeFileNameError: Error, CustomStringConvertible, Equatable {
    public let path: String

    public init(path: String) { self.path = path }

    public var description: String {
        "\(FileNames.shown(path)): a line break or control character in a file name; rename it "
            + "(Lightbox lists paths one a line and passes them to Slurm batch scripts)"
    }
}
