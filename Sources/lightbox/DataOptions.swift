import ArgumentParser
import Foundation
import LightboxData
import LightboxImaging

/// The options that say which data set to read, shared by `train`, `evaluate`, `audit` and
/// `dataset inspect`, with how their outputs name its pictures.
struct DataOptions: ParsableArguments {
    @Option(help: "The data set: class folders, a covid-chestxray-dataset folder (with metadata.csv), a CSV list (path,label[,group]), or a folder of DICOM files (--source dicom-dir). Default: $LIGHTBOX_DATA.")
    var data: String?

    @Option(help: "How to read --data: folders, covid-chestxray, csv or dicom-dir (default: detected; dicom-dir is never guessed).")
    var source: SourceKind?

    @Option(help: "dicom-dir: the CSV of labels: a label column and a key column, sop_instance_uid, study_instance_uid or path (relative to --data); an optional group column.")
    var labels: String?

    @Option(help: "covid-chestxray: keep rows of this modality.")
    var modality = "X-ray"

    @Option(help: "covid-chestxray: keep rows with these views (comma-separated).")
    var views = "PA,AP,AP Supine"

    @Option(name: .customLong("label-map"),
            help: "covid-chestxray: map findings to classes, rules PATTERN=CLASS in order (PATTERN* = prefix, * = any, empty CLASS = exclude).")
    var labelMap = LabelMap.blog.description

    @OptionGroup var identification: IdentificationOptions

    /// --identify-by, else the source's default (uid for dicom-dir, else path).
    var identity: PictureIdentity { identification.identifyBy ?? .default(for: kind) }

    var covidOptions: CovidChestXraySource.Options {
        get throws {
            CovidChestXraySource.Options(modality: modality,
                                         views: views.split(separator: ",").map { $0.trimmingCharacters(in: .whitespaces) },
                                         labelMap: try LabelMap(parsing: labelMap))
        }
    }

    var kind: SourceKind? { source }

    /// What to read, from --data (else $LIGHTBOX_DATA), --source and the covid-chestxray options.
    func selection() throws -> DataSelection {
        guard let path = resolvedPath else { throw ValidationError("give --data (or set LIGHTBOX_DATA)") }
        return DataSelection(path: path, kind: kind, covid: try covidOptions, labels: labels, identity: identity)
    }

    /// --data, else $LIGHTBOX_DATA; nil when neither is given.
    var resolvedPath: String? {
        data ?? ProcessInfo.processInfo.environment["LIGHTBOX_DATA"].flatMap { $0.isEmpty ? nil : $0 }
    }
}

/// `--identify-by`: how outputs and log lines name a picture (every command that reads pictures
/// and writes what it found: train, evaluate, audit, predict, embed, dataset inspect).
struct IdentificationOptions: ParsableArguments {
    @Option(name: .customLong("identify-by"),
            help: "How outputs and log lines name a picture: path (as read), uid (a DICOM file's SOPInstanceUID; a picture without one by its digest) or digest (sha256- and 16 hex digits of its bytes). Default: uid for --source dicom-dir, else path. Folders named after patients (PACS exports): uid or digest.")
    var identifyBy: PictureIdentity?

    /// Decoders' warnings ("PATH: 3 frames, only the first is used") to standard error, their
    /// picture named by `identity`.
    static func installWarnings(_ identity: PictureIdentity) {
        let names = PictureNames(identity, paths: [], digests: [:], threads: 1)
        DecodingWarnings.install { Terminal.note("warning: \(names.renamingLeadingPath($0))") }
    }
}
