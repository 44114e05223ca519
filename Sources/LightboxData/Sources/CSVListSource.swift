import Foundation

/// A CSV file with a header `path,label[,group][,name]`; paths are relative to the CSV's folder
/// and may not leave it; `name` is what reports call a picture (default: its file name).
public enum CSVListSource {
    public static func load(_ csvPath: String) throws -> Dataset {
        let table = try TableReader.read(csvPath, requiredColumns: ["path", "label"])
        let base = (csvPath as NSString).deletingLastPathComponent
        let name = (csvPath as NSString).lastPathComponent
        let hasGroups = table.header.contains("group"), hasNames = table.header.contains("name")
        var images: [LabeledImage] = []
        var skipped: [SkippedItem] = []
        var seen = Set<String>()
        for (number, row) in table.rows {
            let where_ = "\(name):\(number)"
            let relative = row["path"]?.trimmingCharacters(in: .whitespaces) ?? ""
            let label = row["label"]?.trimmingCharacters(in: .whitespaces) ?? ""
            guard !label.isEmpty else { skipped.append(SkippedItem(item: where_, reason: "empty label")); continue }
            guard let path = ContainedPath.resolve(relative, in: base.isEmpty ? "." : base) else {
                skipped.append(SkippedItem(item: where_, reason: "path '\(relative)' is empty, absolute or leaves the data folder"))
                continue
            }
            guard FileManager.default.fileExists(atPath: path) else {
                skipped.append(SkippedItem(item: "\(where_) \(relative)", reason: "missing file"))
                continue
            }
            guard seen.insert(path).inserted else {
                skipped.append(SkippedItem(item: "\(where_) \(relative)", reason: "duplicate row for the same file"))
                continue
            }
            let group = hasGroups ? (row["group"].flatMap { $0.isEmpty ? nil : "group:\($0)" } ?? path) : path
            let shown = hasNames ? row["name"].flatMap { $0.isEmpty ? nil : $0 } : nil
            images.append(LabeledImage(path: path, label: label, group: group, name: shown))
        }
        guard !images.isEmpty else { throw DatasetError("\(csvPath): no usable rows") }
        return Dataset(images: images, skipped: skipped, hasGroups: hasGroups, source: "CSV list \(csvPath)")
    }
}
