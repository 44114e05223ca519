import Foundation

/// The covid-chestxray-dataset layout: `metadata.csv` (one row per image) and the images
/// in the folder its `folder` column names. Rows are filtered by modality and view, and
/// each `finding` is mapped to a class (or excluded) by a label map. Patients (the
/// `patientid` column) are the groups.
public enum CovidChestXraySource {
    public struct Options: Sendable {
        public var modality: String
        public var views: [String]
        public var labelMap: LabelMap

        public init(modality: String = "X-ray", views: [String] = ["PA", "AP", "AP Supine"],
                    labelMap: LabelMap = .blog) {
            self.modality = modality
            self.views = views
            self.labelMap = labelMap
        }
    }

    public static func load(_ directory: String, options: Options = Options()) throws -> Dataset {
        let csv = (directory as NSString).appendingPathComponent("metadata.csv")
        guard FileManager.default.fileExists(atPath: csv) else {
            throw DatasetError("\(directory): no metadata.csv (not a covid-chestxray-dataset folder)")
        }
        let table = try TableReader.read(csv, requiredColumns: ["patientid", "finding", "view", "modality", "filename"])
        var images: [LabeledImage] = []
        var skipped: [SkippedItem] = []
        var seen = Set<String>()
        let views = Set(options.views)
        for (number, row) in table.rows {
            let filename = row["filename"] ?? ""
            let item = "metadata.csv:\(number) \(filename)"
            let modality = row["modality"] ?? ""
            guard modality == options.modality else {
                skipped.append(SkippedItem(item: item, reason: "filtered modality '\(modality)'"))
                continue
            }
            let view = row["view"] ?? ""
            guard views.contains(view) else {
                skipped.append(SkippedItem(item: item, reason: "filtered view '\(view)'"))
                continue
            }
            let finding = row["finding"] ?? ""
            guard let label = options.labelMap.label(for: finding) else {
                skipped.append(SkippedItem(item: item, reason: "excluded finding '\(finding)'"))
                continue
            }
            let folder = row["folder"].flatMap { $0.isEmpty ? nil : $0 } ?? "images"
            guard let path = ContainedPath.resolve("\(folder)/\(filename)", in: directory), !filename.isEmpty else {
                skipped.append(SkippedItem(item: item, reason: "path '\(folder)/\(filename)' is empty or leaves the data folder"))
                continue
            }
            guard FileManager.default.fileExists(atPath: path) else {
                skipped.append(SkippedItem(item: item, reason: "missing file"))
                continue
            }
            guard seen.insert(path).inserted else {
                skipped.append(SkippedItem(item: item, reason: "duplicate row for the same file"))
                continue
            }
            let patient = (row["patientid"] ?? "").trimmingCharacters(in: .whitespaces)
            images.append(LabeledImage(path: path, label: label, group: patient.isEmpty ? path : "patient:\(patient)"))
        }
        guard !images.isEmpty else { throw DatasetError("\(csv): no rows pass the filters") }
        return Dataset(images: images, skipped: skipped, hasGroups: true, source: "covid-chestxray at \(directory)")
    }
}

/// Maps a finding to a class: rules `PATTERN=CLASS` tried in order, first match wins.
/// `PATTERN*` matches a prefix, `*` anything, an empty pattern an empty finding;
/// an empty class excludes the row.
public struct LabelMap: Sendable, Equatable, CustomStringConvertible {
    public struct Rule: Sendable, Equatable {
        public var pattern: String
        public var label: String?
    }

    public var rules: [Rule]

    /// The 2020 blog's mapping: COVID-19 findings, unlabelled rows out, everything else OTHER.
    public static let blog = try! LabelMap(parsing: "COVID-19*=COVID-19,todo=,=,*=OTHER")

    public init(parsing text: String) throws {
        rules = try text.split(separator: ",", omittingEmptySubsequences: false).map { part in
            guard let eq = part.firstIndex(of: "=") else {
                throw DatasetError("label map rule '\(part)' has no '=' (expected PATTERN=CLASS)")
            }
            let label = part[part.index(after: eq)...].trimmingCharacters(in: .whitespaces)
            return Rule(pattern: part[..<eq].trimmingCharacters(in: .whitespaces), label: label.isEmpty ? nil : label)
        }
    }

    public func label(for finding: String) -> String? {
        let f = finding.trimmingCharacters(in: .whitespaces)
        for rule in rules {
            let matches: Bool
            if rule.pattern == "*" {
                matches = true
            } else if rule.pattern.hasSuffix("*") {
                matches = f.hasPrefix(String(rule.pattern.dropLast()))
            } else {
                matches = f == rule.pattern
            }
            if matches { return rule.label }
        }
        return nil
    }

    public var description: String {
        rules.map { "\($0.pattern)=\($0.label ?? "")" }.joined(separator: ",")
    }
}
