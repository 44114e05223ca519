import ArgumentParser
import Foundation
import LightboxData
import LightboxImaging

struct DatasetCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "dataset", abstract: "Look at a data set before training.", subcommands: [Inspect.self])

    struct Inspect: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Classes, images and patients per class, images per patient, and every skipped item with its reason.",
            discussion: "Decodes every image, so unreadable files and repeated pictures are found too.")

        @OptionGroup var dataOptions: DataOptions

        @OptionGroup var dicom: DICOMOptions

        func run() throws {
            try Terminal.run {
                let settings = Lightbox.settings
                IdentificationOptions.installWarnings(dataOptions.identity)
                var dataset = try dataOptions.selection().load(saltFolder: settings.home)
                let digests = ContentDigests.compute(dataset.images.map(\.path), threads: settings.threads)
                dataset = DuplicateFilter.apply(dataset.identified(by: dataOptions.identity, digests: digests, threads: settings.threads),
                                                digests: digests)
                let unreadable = Dictionary(DatasetInspection.undecodable(dataset.images.map(\.path), decoder: dicom.decoder(settings),
                                                                          threads: settings.threads).map { ($0.path, $0.reason) },
                                            uniquingKeysWith: { a, _ in a })
                dataset = dataset.removing { image in unreadable[image.path].map { "unreadable image: \($0)" } }
                print(DatasetInspection.summary(dataset))
            }
        }
    }
}
