import ArgumentParser
import Foundation
import LightboxWorkflows

/// Messages for the person at the terminal: progress and problems go to stderr,
/// so stdout stays for results.
enum Terminal {
    static func note(_ line: String) {
        StatusLine.shared.print(line)
    }

    /// Standard error's last line when it is a terminal: a progress counter is redrawn in place
    /// there, and cleared before any other line is written, so the two never share a line
    /// ("56/342epoch 1/6"). When standard error is not a terminal nothing is redrawn and no
    /// control character is written.
    final class StatusLine: @unchecked Sendable {
        static let shared = StatusLine(interactive: isatty(STDERR_FILENO) != 0)

        let interactive: Bool
        private let lock = NSLock()
        /// A counter is on the line now, with no newline after it.
        private var open = false

        init(interactive: Bool) { self.interactive = interactive }

        /// "\r" back to the line's start and ESC [K to erase it: what a terminal needs to redraw.
        private static let clear = "\r\u{1B}[K"

        /// One whole line, after clearing a counter that is on the line.
        func print(_ line: String) {
            lock.lock(); defer { lock.unlock() }
            write((open ? Self.clear : "") + line + "\n")
            open = false
        }

        /// Redraws the counter line (a terminal only); `finished` ends it with a newline, so it stays.
        func redraw(_ text: String, finished: Bool) {
            lock.lock(); defer { lock.unlock() }
            write(Self.clear + text + (finished ? "\n" : ""))
            open = !finished
        }

        /// Clears a counter left on the line, before results go to standard output.
        func close() {
            lock.lock(); defer { lock.unlock() }
            if open { write(Self.clear) }
            open = false
        }

        private func write(_ text: String) { FileHandle.standardError.write(Data(text.utf8)) }
    }

    /// Progress of a long job: a line redrawn in place when stderr is a terminal,
    /// otherwise (logs, CI) a line at every tenth of the way.
    final class Progress {
        let label: String
        private var lastTenth = 0

        init(_ label: String) { self.label = label }

        func update(_ done: Int, _ total: Int) {
            if StatusLine.shared.interactive {
                StatusLine.shared.redraw("\(label) \(done)/\(total)", finished: done == total)
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
