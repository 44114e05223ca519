import ArgumentParser
import LightboxCore
import LightboxImaging

/// `--dicom-window`: how DICOM pictures are windowed, for every command that reads pictures.
/// Commands that read pictures without a model pass `resolved` to their decoder; a model records
/// the window it was trained with, and commands that use one apply that window
/// (`ModelBundle.apply(dicomWindow:)`): asking for another is refused unless `--dicom-window-override`.
struct DICOMOptions: ParsableArguments {
    @Option(name: .customLong("dicom-window"),
            help: "DICOM pictures onto 0-255: first (the file's VOI LUT, else its first window centre/width, else min-max; the default) or minmax (min-max of the picture). A model records the window it was trained with, and predict, evaluate and audit use it.")
    var window: DICOMWindow?

    @Flag(name: .customLong("dicom-window-override"),
          help: "Use --dicom-window even where it differs from the window the model was trained with (a warning is printed).")
    var override = false

    /// The window asked for, or the default.
    var resolved: DICOMWindow { window ?? .first }

    /// A decoder for pictures read without a model: the run's pixel limit and the window asked for.
    func decoder(_ settings: LightboxSettings) -> ImageDecoder {
        ImageDecoder(maxPixels: settings.maxPixels, dicomWindow: resolved)
    }
}
