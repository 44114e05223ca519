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
