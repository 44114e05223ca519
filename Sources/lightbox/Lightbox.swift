import ArgumentParser
import Foundation
import LightboxCore
import LightboxImaging
import LightboxKernels

@main
struct Lightbox: ParsableCommand {
    static func main() {
        AllocatorTuning.keepFreedMemory()
        KernelThreads.setForCurrentThread(settings.threads)
        IdentificationOptions.installWarnings(.path)
        do {
            var command = try parseAsRoot()
            try command.run()
        } catch {
            exit(withError: error)
        }
    }

    /// The run context every command passes down to the libraries: built once, from the one place
    /// the environment is read for them (LIGHTBOX_HOME, LIGHTBOX_MAX_PIXELS, LIGHTBOX_DATA_URL),
    /// and never changed (a command that takes `--threads` passes a copy with its own count).
    static let settings = LightboxSettings(environment: ProcessInfo.processInfo.environment)

    static let configuration = CommandConfiguration(
        commandName: "lightbox",
        abstract: "Teach a computer to read chest X-rays: offline, fast on a CPU, honest about what it learned.",
        discussion: "Educational and research software. Its results are never a diagnosis.",
        subcommands: [Setup.self, DatasetCommand.self, Train.self, Evaluate.self, Audit.self, Predict.self, Export.self, Serve.self, Embed.self, Lungs.self, ImageNetCommand.self])
}
