import Foundation

/// Where the caveats of decoders without an `onWarning` of their own go (a multi-frame DICOM
/// file of which only the first frame is used): to what the executable installed (the CLI:
/// standard error), each message once per process, since a picture is decoded once per stage.
public enum DecodingWarnings {
    /// Makes `sink` receive the warnings; nil drops them (the default).
    public static func install(_ sink: (@Sendable (String) -> Void)?) {
        lock.lock()
        installed = sink
        lock.unlock()
    }

    public static func report(_ message: String) {
        lock.lock()
        let sink = installed, first = seen.insert(message).inserted
        lock.unlock()
        if first { sink?(message) }
    }

    private static let lock = NSLock()
    nonisolated(unsafe) private static var installed: (@Sendable (String) -> Void)?
    nonisolated(unsafe) private static var seen = Set<String>()
}
