import ArgumentParser
import Foundation
import LightboxWorkflows

/// Messages for the person at the terminal: progress and problems go to stderr,
/// so stdout stays for results.
enum Terminal {
    static func note(_ line: String) {
        FileHandle.standardError.write(Data((line + "\n").utf8))
    }

    /// Progress of a long job: a line redrawn in place when stderr is a terminal,
    /// otherwise (logs, CI) a line at every tenth of the way.
    final class Progress {
        let label: String
        private var lastTenth = 0
        private let interactive = isatty(STDERR_FILENO) != 0

        init(_ label: String) { self.label = label }

        func update(_ done: Int, _ total: Int) {
            if interactive {
                FileHandle.standardError.write(Data("\r\(label) \(done)/\(total)".utf8))
                if done == total { FileHandle.standardError.write(Data("\n".utf8)) }
                return
            }
            let tenth = total > 0 ? done * 10 / total : 10
            if tenth > lastTenth && total >= 32 {
                lastTenth = tenth
                note("\(label) \(done)/\(total)")
            }
        }
    }

    /// The one way a command's work meets the terminal: usage errors (`ValidationError`, and a
    /// training option or run budget the rules refuse) go to the argument parser (exit 64),
    /// explicit exit codes pass through, and any other error becomes one "error: ..." line and
    /// exit 1.
    @discardableResult
    static func run<T>(_ body: () throws -> T) throws -> T {
        do {
            return try body()
        } catch let e as ExitCode {
            throw e
        } catch let e as ValidationError {
            throw e
        } catch let e as TrainingOptionError {
            throw ValidationError(e.description)
        } catch {
            throw fail(error)
        }
    }

    /// A command's own failure (exit 1 with its message), as opposed to a usage error.
    struct Failure: Error, CustomStringConvertible {
        let description: String
        init(_ description: String) { self.description = description }
    }

    /// Stops the command with one clear line and a failure exit code.
    static func fail(_ error: Error) -> ExitCode {
        note("error: \(error)")
        return ExitCode.failure
    }
}
