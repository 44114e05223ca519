import ArgumentParser
import LightboxCore

/// `--dicom-window`: how DICOM pictures are windowed, for every command that reads pictures.
/// Installed into the process's settings, which every image decoder reads.
struct DICOMOptions: ParsableArguments {
    @Option(name: .customLong("dicom-window"),
            help: "DICOM pictures onto 0-255: first (the file's VOI LUT, else its first window centre/width, else min-max) or minmax (min-max of the picture). Use the same choice to train and to predict.")
    var window: DICOMWindow = .first

    func install() {
        var settings = LightboxSettings.current
        settings.dicomWindow = window
        LightboxSettings.install(settings)
    }
}

extension DICOMWindow: ExpressibleByArgument {}
