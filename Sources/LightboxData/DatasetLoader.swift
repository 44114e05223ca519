import Foundation

/// The kinds of data set Lightbox reads.
public enum SourceKind: String, CaseIterable, Sendable, Codable {
    case folders
    case covidChestxray = "covid-chestxray"
    case csv

    /// Guesses the kind from what is at `path`: a `.csv` file, a folder with `metadata.csv`,
    /// or class folders.
    public static func detect(_ path: String) -> SourceKind {
        if path.lowercased().hasSuffix(".csv") { return .csv }
        let metadata = (path as NSString).appendingPathComponent("metadata.csv")
        return FileManager.default.fileExists(atPath: metadata) ? .covidChestxray : .folders
    }
}

public enum DatasetLoader {
    public static func load(_ path: String, kind: SourceKind? = nil,
                            covidOptions: CovidChestXraySource.Options = .init()) throws -> Dataset {
        switch kind ?? SourceKind.detect(path) {
        case .folders: return try ClassFolderSource.load(path)
        case .covidChestxray: return try CovidChestXraySource.load(path, options: covidOptions)
        case .csv: return try CSVListSource.load(path)
        }
    }
}

/// Which data set to read and how: where it is, its kind (nil: detected from the path) and,
/// for covid-chestxray, which rows and labels to keep. What `evaluate`, `audit` and
/// `dataset inspect` are given.
public struct DataSelection: Sendable {
    public var path: String
    public var kind: SourceKind?
    public var covid: CovidChestXraySource.Options

    public init(path: String, kind: SourceKind? = nil, covid: CovidChestXraySource.Options = .init()) {
        self.path = path
        self.kind = kind
        self.covid = covid
    }

    public func load() throws -> Dataset { try DatasetLoader.load(path, kind: kind, covidOptions: covid) }
}
