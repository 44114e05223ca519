import Foundation

/// Blanks a secret in this process's own argument strings, so that `/proc/PID/cmdline` (what
/// `ps` shows every user) stops showing it once the command line has been parsed. A short
/// window remains: $LIGHTBOX_TOKEN or --token-file avoid it entirely.
enum ProcessArguments {
    static func hideValue(of option: String) {
        let argc = Int(CommandLine.argc)
        let argv = CommandLine.unsafeArgv
        var i = 1
        while i < argc {
            guard let arg = argv[i] else { break }
            let text = String(cString: arg)
            if text == option, i + 1 < argc, let value = argv[i + 1] {
                blank(value, from: 0)
                i += 2
                continue
            }
            if text.hasPrefix(option + "=") { blank(arg, from: option.utf8.count + 1) }
            i += 1
        }
    }

    private static func blank(_ s: UnsafeMutablePointer<CChar>, from start: Int) {
        var p = s + start
        while p.pointee != 0 {
            p.pointee = CChar(UInt8(ascii: "x"))
            p += 1
        }
    }
}
