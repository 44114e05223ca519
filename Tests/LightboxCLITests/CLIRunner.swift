import Foundation

/// Runs the built `lightbox` executable as a user would, capturing its output.
enum CLI {
    /// `../shared` beside the repository.
    static let shared = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
        .deletingLastPathComponent().deletingLastPathComponent().appendingPathComponent("shared")
    static let images = shared.appendingPathComponent("data/covid-chestxray/images")

    struct Outcome { var status: Int32; var stdout: String; var stderr: String }

    static func run(_ arguments: [String], environment: [String: String] = [:]) throws -> Outcome {
        try launch(Bundle.main.bundleURL.appendingPathComponent("lightbox"), arguments, environment: environment).wait()
    }

    /// A `lightbox` run going on in the background.
    final class Running: @unchecked Sendable {
        let process: Process
        private var stdout = Data(), stderr = Data()
        private let readers = DispatchGroup()

        init(_ process: Process, out: Pipe, err: Pipe) {
            self.process = process
            readers.enter()
            readers.enter()
            DispatchQueue.global().async { self.stdout = out.fileHandleForReading.readDataToEndOfFile(); self.readers.leave() }
            DispatchQueue.global().async { self.stderr = err.fileHandleForReading.readDataToEndOfFile(); self.readers.leave() }
        }

        func wait() -> Outcome {
            readers.wait()
            process.waitUntilExit()
            return Outcome(status: process.terminationStatus, stdout: String(decoding: stdout, as: UTF8.self),
                           stderr: String(decoding: stderr, as: UTF8.self))
        }
    }

    static func launch(_ executable: URL, _ arguments: [String], environment: [String: String]) throws -> Running {
        let process = Process()
        process.executableURL = executable
        process.arguments = arguments
        process.environment = ProcessInfo.processInfo.environment.merging(environment) { $1 }
        let out = Pipe(), err = Pipe()
        process.standardOutput = out
        process.standardError = err
        try process.run()
        return Running(process, out: out, err: err)
    }
}
