import Foundation
import LightboxCore

/// A small ready-made project from the public covid-chestxray-dataset (Cohen et al.): about
/// `perClass` frontal X-rays (PA or AP) per class, COVID-19 and every other finding, one
/// picture per patient (and each picture once), chosen with a fixed seed so every classroom gets the same pictures.
/// Each picture keeps its `license` from metadata.csv, so the page can show what it may be
/// used for before and after the import.
public enum SampleProject {
    public static let name = "Sample: COVID-19 or other finding"
    public static let perClass = 30
    public static let seed: UInt64 = 26
    public static let views: Set<String> = ["PA", "AP"]
    /// The class of a COVID-19 finding, and of every other (labelled) finding.
    public static let covid = "COVID-19", other = "other finding"
    public static let source = "Cohen et al., COVID-19 Image Data Collection (covid-chestxray-dataset)"
    public static let sourceURL = "https://github.com/ieee8023/covid-chestxray-dataset"
    /// What a picture whose `license` cell is empty is listed under.
    public static let unstated = "not stated in metadata.csv (see the data set's README)"

    public struct Picture: Sendable, Equatable {
        public var path: String
        public var label: String
        public var patient: String
        public var license: String
    }

    /// The pictures chosen from the data set in `directory` (its metadata.csv and images),
    /// classes in order (COVID-19, then other finding), each sorted by path.
    public static func select(from directory: String, perClass: Int = perClass) throws -> [Picture] {
        let csv = (directory as NSString).appendingPathComponent("metadata.csv")
        guard FileManager.default.fileExists(atPath: csv) else {
            throw DatasetError("\(directory): no metadata.csv (not a covid-chestxray-dataset folder)")
        }
        let table = try TableReader.read(csv, requiredColumns: ["patientid", "finding", "view", "modality", "filename"])
        // The first usable row of each patient: one picture per patient, whatever its class.
        var byPatient: [String: Picture] = [:]
        for (_, row) in table.rows {
            let patient = (row["patientid"] ?? "").trimmingCharacters(in: .whitespaces)
            guard !patient.isEmpty, byPatient[patient] == nil,
                  row["modality"] == "X-ray", views.contains(row["view"] ?? ""),
                  let finding = LabelMap.blog.label(for: row["finding"] ?? "") else { continue }
            let folder = row["folder"].flatMap { $0.isEmpty ? nil : $0 } ?? "images"
            let filename = row["filename"] ?? ""
            guard !filename.isEmpty, let path = ContainedPath.resolve("\(folder)/\(filename)", in: directory),
                  FileManager.default.fileExists(atPath: path) else { continue }
            let license = (row["license"] ?? "").trimmingCharacters(in: .whitespaces)
            byPatient[patient] = Picture(path: path, label: finding == covid ? covid : other, patient: patient,
                                         license: license.isEmpty ? unstated : license)
        }
        var chosen: [Picture] = []
        for label in [covid, other] {
            // Sorted first: the draw depends on the seed only, not on the order of the table.
            var candidates = byPatient.values.filter { $0.label == label }.sorted { $0.patient < $1.patient }
            guard !candidates.isEmpty else { throw DatasetError("\(csv): no frontal X-ray with a \(label) finding") }
            var generator = SeededGenerator(seed: seed, stream: "sample:\(label)")
            candidates.shuffle(using: &generator)
            // The data set holds a few identical files under two patients: each picture once.
            var taken: [Picture] = [], digests = Set<String>()
            for candidate in candidates where taken.count < perClass {
                guard let data = FileManager.default.contents(atPath: candidate.path),
                      digests.insert(SHA256.hex(data)).inserted else { continue }
                taken.append(candidate)
            }
            chosen += taken.sorted { $0.path < $1.path }
        }
        return chosen
    }

    /// How many pictures carry each licence, most first.
    public static func licences(_ pictures: [Picture]) -> [(license: String, count: Int)] {
        Dictionary(grouping: pictures, by: \.license).map { (license: $0.key, count: $0.value.count) }
            .sorted { $0.count != $1.count ? $0.count > $1.count : $0.license < $1.license }
    }
}
