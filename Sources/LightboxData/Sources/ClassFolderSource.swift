import Foundation
import LightboxImaging

/// `DIR/<class name>/<images>`: each top-level folder is a class; images may sit in
/// nested folders. There are no patient ids, so each image is its own group.
public enum ClassFolderSource {
    public static func load(_ directory: String) throws -> Dataset {
        let fm = FileManager.default
        var isDirectory: ObjCBool = false
        guard fm.fileExists(atPath: directory, isDirectory: &isDirectory), isDirectory.boolValue else {
            throw DatasetError("\(directory): not a directory")
        }
        let root = URL(fileURLWithPath: directory)
        var images: [LabeledImage] = []
        var skipped: [SkippedItem] = []
        var empty: [String] = [], warnings: [String] = []
        for entry in try fm.contentsOfDirectory(atPath: directory).sorted() {
            let path = root.appendingPathComponent(entry).path
            guard fm.fileExists(atPath: path, isDirectory: &isDirectory), isDirectory.boolValue else {
                skipped.append(SkippedItem(item: path, reason: "not inside a class folder"))
                continue
            }
            guard !entry.hasPrefix(".") else { continue }
            let files = (fm.enumerator(atPath: path)?.allObjects as? [String] ?? []).sorted()
            let before = images.count
            for relative in files {
                let file = (path as NSString).appendingPathComponent(relative)
                guard fm.fileExists(atPath: file, isDirectory: &isDirectory), !isDirectory.boolValue else { continue }
                if ImageFiles.isImage(file) {
                    images.append(LabeledImage(path: file, label: entry, group: file))
                } else {
                    skipped.append(SkippedItem(item: file, reason: "not an image file"))
                }
            }
            if images.count == before {
                skipped.append(SkippedItem(item: path, reason: "empty class folder (no images)"))
                empty.append(entry)
            } else if let doubt = ClassNames.doubtAboutFolder(entry) {
                warnings.append(doubt)
            }
        }
        guard !images.isEmpty else { throw DatasetError("\(directory): no images found in class folders") }
        var dataset = Dataset(images: images, skipped: skipped, hasGroups: false, source: "class folders at \(directory)")
        dataset.emptyClasses = empty
        dataset.warnings = warnings
        return dataset
    }
}
