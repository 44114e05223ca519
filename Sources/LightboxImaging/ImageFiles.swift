import Foundation
import LightboxCore

/// Expands command-line inputs (files and directories) into image file paths.
public enum ImageFiles {
    /// File name endings treated as images when a directory is expanded.
    public static let extensions: Set<String> = ["png", "jpg", "jpeg", "dcm", "dicom"]

    /// Whether a file found in a folder is a picture to read: its name ends in one of
    /// `extensions`, or it has no extension and starts with the DICOM preamble (128 bytes, then
    /// "DICM"), as files in a DICOM export (DICOMDIR trees) usually are named by number alone.
    public static func isImage(_ path: String) -> Bool {
        let ext = (path as NSString).pathExtension.lowercased()
        if extensions.contains(ext) { return true }
        return ext.isEmpty && hasDICOMPreamble(path)
    }

    /// The file is a regular file (after links) whose bytes 128-131 are "DICM". Anything else
    /// (a FIFO, a device, a folder) is not opened: opening a FIFO would block until a writer came.
    public static func hasDICOMPreamble(_ path: String) -> Bool {
        guard isRegularFile(path) else { return false }
        let fd = open(path, O_RDONLY | O_NONBLOCK | O_CLOEXEC)
        guard fd >= 0 else { return false }
        defer { close(fd) }
        var head = [UInt8](repeating: 0, count: 132)
        guard pread(fd, &head, 132, 0) == 132 else { return false }
        return ImageFormat(sniffing: head) == .dicom
    }

    /// Whether `path` is a regular file after links: the only kind Lightbox opens on a guess
    /// (a FIFO would block the opener until a writer came; a device never ends).
    public static func isRegularFile(_ path: String) -> Bool {
        var info = stat()
        return stat(path, &info) == 0 && (info.st_mode & S_IFMT) == S_IFREG
    }

    /// Each input in order; a directory becomes its image files (recursively), sorted by path.
    /// A path that does not exist is an error naming it, and so is one with a line break or
    /// control character in its name (`FileNames`).
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
            for case let relative as String in walker {
                let path = (input as NSString).appendingPathComponent(relative)
                if isImage(path) && !isDirectoryPath(path) { found.append(path) }
            }
            result += found.sorted()
        }
        try FileNames.check(result)
        return result
    }

    static func isDirectoryPath(_ path: String) -> Bool {
        var isDirectory: ObjCBool = false
        return FileManager.default.fileExists(atPath: path, isDirectory: &isDirectory) && isDirectory.boolValue
    }
}
