import Foundation
import LightboxImaging

/// `--source dicom-dir`: a folder tree of DICOM files as a PACS export leaves it (names are
/// often numbers without an extension), labelled by a CSV whose `label` column is keyed by one
/// of `sop_instance_uid` (one picture), `study_instance_uid` (every picture of a study) or
/// `path` (relative to the folder); an optional `group` column overrides the patient. A file's
/// patient is otherwise its PatientID, as a pseudonym (`DICOMPatients`). Files without a label
/// and rows without a file are skipped with the reason; no UID or id is written in a reason.
public enum DICOMDirectorySource {
    /// The key columns, in the order they are looked for.
    public static let keyColumns = ["sop_instance_uid", "study_instance_uid", "path"]

    public static func load(_ directory: String, labels: String?, saltFolder: String) throws -> Dataset {
        guard let labels else {
            throw DatasetError("\(directory): --source dicom-dir needs --labels FILE.csv (a label column and one of \(keyColumns.joined(separator: ", ")))")
        }
        var isDirectory: ObjCBool = false
        guard FileManager.default.fileExists(atPath: directory, isDirectory: &isDirectory), isDirectory.boolValue else {
            throw DatasetError("\(directory): not a directory")
        }
        let table = try TableReader.read(labels, requiredColumns: ["label"])
        guard let key = keyColumns.first(where: table.header.contains) else {
            throw DatasetError("\(labels): no key column: give one of \(keyColumns.joined(separator: ", ")) beside label (header: \(table.header.joined(separator: ",")))")
        }
        let tableName = (labels as NSString).lastPathComponent
        let what = key.replacingOccurrences(of: "_", with: " ").replacingOccurrences(of: "uid", with: "UID")
        var skipped: [SkippedItem] = []
        // key value -> (label, group, row)
        var rows: [String: (label: String, group: String?, row: Int)] = [:]
        for (number, fields) in table.rows {
            let where_ = "\(tableName):\(number)"
            let value = fields[key]?.trimmingCharacters(in: .whitespaces) ?? ""
            let label = fields["label"]?.trimmingCharacters(in: .whitespaces) ?? ""
            guard !value.isEmpty else { skipped.append(SkippedItem(item: where_, reason: "empty \(what)")); continue }
            guard !label.isEmpty else { skipped.append(SkippedItem(item: where_, reason: "empty label")); continue }
            guard rows[value] == nil else { skipped.append(SkippedItem(item: where_, reason: "a second row for the same \(what)")); continue }
            rows[value] = (label, fields["group"].flatMap { $0.isEmpty ? nil : "group:\($0)" }, number)
        }

        var images: [LabeledImage] = [], used = Set<String>()
        var pseudonyms: PatientPseudonyms?
        let root = (directory as NSString).standardizingPath
        for relative in (FileManager.default.enumerator(atPath: root)?.allObjects as? [String] ?? []).sorted() {
            let path = (root as NSString).appendingPathComponent(relative)
            guard FileManager.default.fileExists(atPath: path, isDirectory: &isDirectory), !isDirectory.boolValue,
                  !(relative as NSString).lastPathComponent.hasPrefix("."), DICOMPatients.isDICOM(path) else { continue }
            let ids: DICOMIdentifiers
            do { ids = try DICOMIdentifiers.read(path: path) } catch let e as ImageDecodingError {
                skipped.append(SkippedItem(item: path, reason: e.problem))
                continue
            }
            let value: String? = switch key {
            case "sop_instance_uid": ids.sopInstanceUID
            case "study_instance_uid": ids.studyInstanceUID
            default: relative
            }
            guard let value, let row = rows[value] else {
                skipped.append(SkippedItem(item: path, reason: "no row of \(tableName) has this file's \(what)"))
                continue
            }
            used.insert(value)
            var group = row.group ?? path
            if row.group == nil, let id = ids.patientID {
                if pseudonyms == nil { pseudonyms = try PatientPseudonyms.stored(in: saltFolder) }
                group = pseudonyms!.pseudonym(for: id)
            }
            images.append(LabeledImage(path: path, label: row.label, group: group))
        }
        for (value, row) in rows where !used.contains(value) {
            skipped.append(SkippedItem(item: "\(tableName):\(row.row)", reason: "no DICOM file under \(directory) has this \(what)"))
        }
        skipped.sort { $0.item < $1.item }
        guard !images.isEmpty else { throw DatasetError("\(directory): no labelled DICOM files (\(skipped.count) skipped)") }
        let hasGroups = images.contains { $0.group != $0.path }
        var dataset = Dataset(images: images, skipped: skipped, hasGroups: hasGroups, source: "DICOM folder \(directory) labelled by \(tableName)")
        dataset.pseudonyms = pseudonyms
        return dataset
    }
}
