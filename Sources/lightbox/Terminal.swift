import ArgumentParser
import Foundation

/// Messages for the person at the terminal: progress and problems go to stderr,
/// so stdout stays for results.
enum Terminal {
    static func note(_ line: String) {
        FileHandle.standardError.write(Data((line + "\n").utf8))
    }

    /// A progress line redrawn in place when stderr is a terminal, printed every ~10% otherwise.
    static func progress(_ label: String, _ done: Int, _ total: Int) {
        if isatty(STDERR_FILENO) != 0 {
            FileHandle.standardError.write(Data("\r\(label) \(done)/\(total)".utf8))
            if done == total { FileHandle.standardError.write(Data("\n".utf8)) }
        } else if total >= 64, done == total || done * 10 / total != (done - 1) * 10 / total {
            note("\(label) \(done)/\(total)")
        }
    }

    /// Stops the command with one clear line and a failure exit code.
    static func fail(_ error: Error) -> ExitCode {
        note("error: \(error)")
        return ExitCode.failure
    }
}

extension ResizePolicyOption: ExpressibleByArgument {}

/// The `--resize` choices, as the command line spells them.
enum ResizePolicyOption: String, CaseIterable {
    case crop, pad, stretch
}
