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

        func run() throws {
            try Terminal.run {
                guard let path = dataOptions.resolvedPath else { throw ValidationError("give --data (or set LIGHTBOX_DATA)") }
                var dataset = try DatasetLoader.load(path, kind: dataOptions.kind, covidOptions: try dataOptions.covidOptions)
                let digests = ContentDigests.compute(dataset.images.map(\.path))
                dataset = DuplicateFilter.apply(dataset, digests: digests)
                let unreadable = DatasetInspection.undecodable(dataset.images.map(\.path))
                let bad = Set(unreadable.map(\.path))
                dataset = Dataset(images: dataset.images.filter { !bad.contains($0.path) },
                                  skipped: dataset.skipped + unreadable.map { SkippedItem(item: $0.path, reason: "unreadable image: \($0.reason)") },
                                  hasGroups: dataset.hasGroups, source: dataset.source)
                print(DatasetInspection.summary(dataset))
            }
        }
    }
}
