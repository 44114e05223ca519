import Foundation
import LightboxCore

/// The kinds of data set Lightbox reads.
public enum SourceKind: String, CaseIterable, Sendable, Codable {
    case folders
    case covidChestxray = "covid-chestxray"
    case csv
    case dicomDir = "dicom-dir"

    /// Guesses the kind from what is at `path`: a `.csv` file, a folder with `metadata.csv`,
    /// or class folders (`dicom-dir` is never guessed: it needs its labels).
    public static func detect(_ path: String) -> SourceKind {
        if path.lowercased().hasSuffix(".csv") { return .csv }
        let metadata = (path as NSString).appendingPathComponent("metadata.csv")
        return FileManager.default.fileExists(atPath: metadata) ? .covidChestxray : .folders
    }
}

public enum DatasetLoader {
    /// - Parameters:
    ///   - labels: the CSV that labels a `dicom-dir` folder.
    ///   - saltFolder: where the salt that turns DICOM patient ids into pseudonyms is kept
    ///     (`PatientPseudonyms`); read or made only when a DICOM file carries a patient id.
    ///   - groupDICOM: read the header of each ungrouped DICOM file for its PatientID
    ///     (`DICOMPatients`). The Studio's import turns it off: it reads each file itself, only
    ///     after checking where the file really is, and groups from those bytes.
    /// A picture whose file name holds a line break or control character is refused
    /// (`FileNames`): paths go into shard lists, one a line, and Slurm tasks' lists.
    public static func load(_ path: String, kind: SourceKind? = nil, covidOptions: CovidChestXraySource.Options = .init(),
                            labels: String? = nil, saltFolder: String,
                            groupDICOM: Bool = true) throws -> Dataset {
        var dataset: Dataset
        let kind = kind ?? SourceKind.detect(path)
        switch kind {
        case .folders: dataset = try ClassFolderSource.load(path)
        case .covidChestxray: dataset = try CovidChestXraySource.load(path, options: covidOptions)
        case .csv: dataset = try CSVListSource.load(path)
        case .dicomDir: dataset = try DICOMDirectorySource.load(path, labels: labels, saltFolder: saltFolder)
        }
        try FileNames.check(dataset.images.map(\.path))
        if let clash = ClassNames.firstClash(dataset.classes + dataset.emptyClasses) {
            throw DatasetError("\(path): classes '\(clash.first)' and '\(clash.second)' differ only in letter case or Unicode form; "
                               + "a model would learn them as two classes: rename one or put their pictures together")
        }
        // A dicom-dir source groups by PatientID itself.
        if groupDICOM && kind != .dicomDir { dataset = try DICOMPatients.group(dataset, saltFolder: saltFolder) }
        return dataset
    }
}

/// Which data set to read and how: where it is, its kind (nil: detected from the path) and,
/// for covid-chestxray, which rows and labels to keep. What `evaluate`, `audit` and
/// `dataset inspect` are given.
public struct DataSelection: Sendable {
    public var path: String
    public var kind: SourceKind?
    public var covid: CovidChestXraySource.Options
    /// The labels of a `dicom-dir` folder.
    public var labels: String?
    /// How outputs and log lines name the pictures (`--identify-by`; default: by the kind).
    public var identity: PictureIdentity

    public init(path: String, kind: SourceKind? = nil, covid: CovidChestXraySource.Options = .init(), labels: String? = nil,
                identity: PictureIdentity? = nil) {
        self.path = path
        self.kind = kind
        self.covid = covid
        self.labels = labels
        self.identity = identity ?? .default(for: kind)
    }

    /// `saltFolder`: where the run keeps its DICOM pseudonym salt (its settings' `home`).
    public func load(saltFolder: String) throws -> Dataset {
        try DatasetLoader.load(path, kind: kind, covidOptions: covid, labels: labels, saltFolder: saltFolder)
    }
}
