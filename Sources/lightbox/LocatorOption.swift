import ArgumentParser
import LightboxModels

/// `--locator FILE`: a lung locator fitted with `lightbox lungs fit`, for every command that
/// finds the lungs (lungs, audit, train --crop lungs); without it, the one shipped with Lightbox.
struct LocatorOption: ParsableArguments {
    @Option(help: ArgumentHelp("A lung locator written by `lightbox lungs fit` (default: the one shipped with Lightbox).", valueName: "file"))
    var locator: String?

    func load() throws -> LungLocator {
        try locator.map { try LungLocator.read(from: $0) } ?? LungLocator.shipped()
    }

    /// What a run records as its locator: `shipped`, or the file given.
    var name: String { locator ?? "shipped" }
}
