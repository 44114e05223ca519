import Foundation

/// Lightbox's cache directory: `$LIGHTBOX_HOME`, else `~/.cache/lightbox`.
public enum LightboxHome {
    public static var path: String {
        if let custom = ProcessInfo.processInfo.environment["LIGHTBOX_HOME"], !custom.isEmpty { return custom }
        let home = ProcessInfo.processInfo.environment["HOME"] ?? NSHomeDirectory()
        return (home as NSString).appendingPathComponent(".cache/lightbox")
    }

    public static func subdirectory(_ name: String) -> String {
        (path as NSString).appendingPathComponent(name)
    }
}
