import ArgumentParser
import Foundation
import LightboxCore
import LightboxImaging
import LightboxModels
import LightboxWorkflows

/// `lightbox lungs`: where the lungs are in each picture, and `lightbox lungs fit` to refit the
/// locator from one's own boxes.
struct Lungs: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Find the box around both lungs in chest X-rays (or refit the lung locator with `lungs fit`).",
        discussion: "Educational and research software: a box here is not a clinical measurement.",
        subcommands: [Locate.self, Fit.self], defaultSubcommand: Locate.self)

    struct Locate: ParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "locate",
            abstract: "Print each picture's lung box, [x0, y0, x1, y1] in its own pixels (`lightbox lungs IMAGE...` runs this).")

        @Flag(help: "Print JSON (path, box as [x0, y0, x1, y1], width, height) instead of text.")
        var json = false

        @Option(help: ArgumentHelp("Write each picture with its box drawn into this folder, as NAME.lungs.png.", valueName: "dir"))
        var overlay: String?

        @Argument(help: "Image files (PNG, JPEG, DICOM), or directories of them (searched recursively, in sorted order).")
        var inputs: [String]

        @OptionGroup var locatorOption: LocatorOption
        @OptionGroup var dicom: DICOMOptions
        @OptionGroup var precisionOption: PrecisionOption

        func run() throws {
            let settings = precisionOption.settings(Lightbox.settings)
            let (images, finder, results) = try Terminal.run { () -> ([String], LungFinder, [Result<LungFinder.Located, ImageDecodingError>]) in
                if let overlay { try OutputPath.check(overlay, as: .folder) }
                let images = try PictureArguments.expand(inputs)
                let finder = try LungFinder.pretrained(settings: settings, dicomWindow: dicom.resolved, locator: try locatorOption.load())
                let progress = Terminal.Progress("locating lungs")
                return (images, finder, try finder.locate(paths: images, progress: progress.update))
            }
            var failed = 0, records: [LungsRun.Record] = []
            let overlayNames = Predict.heatmapNames(images).map { $0.replacingOccurrences(of: ".heatmap.png", with: ".lungs.png") }
            for (result, overlayName) in zip(results, overlayNames) {
                switch result {
                case .failure(let error):
                    failed += 1
                    Terminal.note("error: \(error)")
                case .success(let located):
                    var file: String?
                    if let overlay {
                        do {
                            let path = (overlay as NSString).appendingPathComponent(overlayName)
                            try AtomicFile.write(try LungsRun.overlayPNG(located.path, box: located.box, decoder: finder.decoder), to: path)
                            file = path
                        } catch {
                            failed += 1
                            Terminal.note("error: \(located.path): overlay not written (\(error))")
                        }
                    }
                    let record = LungsRun.Record(located, overlay: file)
                    records.append(record)
                    if !json {
                        let b = record.box.map { String(format: "%.0f", $0) }.joined(separator: ", ")
                        print("\(located.path): lungs [\(b)] in \(located.width)x\(located.height)")
                    }
                }
            }
            if json {
                let encoder = JSONEncoder()
                encoder.outputFormatting = [.prettyPrinted, .sortedKeys, .withoutEscapingSlashes]
                struct Document: Encodable { var pictures: [LungsRun.Record]; var locator: String; var disclaimer: String }
                let document = Document(pictures: records, locator: locatorOption.locator ?? "shipped",
                                        disclaimer: "Educational and research software, not a diagnosis: a box is not a clinical measurement.")
                print(String(decoding: try encoder.encode(document), as: UTF8.self))
            }
            precisionOption.announce(defaultFallback: false)
            if failed > 0 { throw ExitCode.failure }
        }
    }

    struct Fit: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Fit a lung locator from a COCO-style file of lung boxes (the covid-chestxray collection's, or your own).",
            discussion: "Ridge regression from the pretrained MobileNetV2's last feature map to the box around both lungs; its penalty is chosen by patient-grouped cross-validation, whose IoU is printed. Use the file with --locator.")

        @Option(help: ArgumentHelp("The boxes: COCO layout (images with file_name, width, height and optionally metadata.patientid; annotations with image_id and bbox [x, y, width, height]).", valueName: "file"))
        var boxes: String

        @Option(help: ArgumentHelp("The folder the boxes' file names are in.", valueName: "dir"))
        var images: String

        @Option(help: ArgumentHelp("Where the fitted locator goes.", valueName: "file"))
        var out = "lung-locator.safetensors"

        @Option(help: "Patient-grouped cross-validation folds (2-20).")
        var folds = 5

        @Option(help: "Seed of the folds' draw of patients.")
        var seed: UInt64 = 42

        @OptionGroup var dicom: DICOMOptions

        func validate() throws {
            guard (2...20).contains(folds) else { throw ValidationError("--folds must be 2-20") }
            try FileNames.check([boxes, images, out])
        }

        func run() throws {
            try Terminal.run {
                try OutputPath.check(out, as: .file)
                // Fits are made in fp32, so a refit gives the same file on any CPU of a kind.
                let settings = Lightbox.settings.with(arithmetic: .fp32)
                let annotations = try LungAnnotations.read(boxes, images: images)
                for line in annotations.skipped.prefix(5) { Terminal.note("left out: \(line)") }
                if annotations.skipped.count > 5 { Terminal.note("left out: \(annotations.skipped.count - 5) more") }
                if annotations.withoutPatient > 0 {
                    Terminal.note("\(annotations.withoutPatient) pictures record no patient (metadata.patientid): each is its own patient in cross-validation")
                }
                let features = try LungFeatureMaps.pretrained(settings: settings, dicomWindow: dicom.resolved)
                let samples = try LungLocatorFit.samples(annotations, features: features, reporter: TerminalReporter())
                for failure in samples.failures { Terminal.note("left out: \(failure)") }
                let validation = try LungLocatorFit.crossValidate(samples, folds: folds, seed: seed)
                let record = ["source": annotations.source, "licence": annotations.licence,
                              "cv_mean_iou": String(format: "%.4f", validation.meanIoU),
                              "cv_mean_box_iou": String(format: "%.4f", validation.meanBoxMeanIoU),
                              "cv_folds": String(validation.folds), "seed": String(seed)]
                let (locator, penalty) = try LungLocatorFit.fit(samples, folds: folds, seed: seed, record: record)
                try AtomicFile.write(try locator.encoded(), to: out)
                let sorted = validation.iou.sorted()
                print(String(format: "lung locator: %d pictures of %d patients; patient-grouped %d-fold IoU %.3f (10th percentile %.3f), against %.3f for the mean box; penalty %g",
                             samples.pictures.count, validation.patients, validation.folds, validation.meanIoU,
                             sorted[sorted.count / 10], validation.meanBoxMeanIoU, penalty))
                print("written: \(out)")
            }
        }
    }
}
