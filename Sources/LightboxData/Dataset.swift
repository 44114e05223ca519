import Foundation
/// One usable image of a data set: where it is, its class, and the group (patient) whose
/// images must stay in the same split.
public struct LabeledImage: Hashable, Sendable, Codable {
    public var path: String
    public var label: String
    public var group: String
    /// What people call the picture, where its path says nothing (the Studio stores pictures
    /// by content hash); nil: its file name.
    public var name: String?

    public init(path: String, label: String, group: String, name: String? = nil) {
        self.path = path
        self.label = label
        self.group = group
        self.name = name
    }

    /// `name`, else the file name.
    public var displayName: String { name ?? (path as NSString).lastPathComponent }
}

/// Something the loader left out, and why. Never silently dropped: every command that
/// loads a data set can list these.
public struct SkippedItem: Hashable, Sendable, Codable {
    /// A path, or a row of a table (`metadata.csv:17`).
    public var item: String
    public var reason: String

    public init(item: String, reason: String) {
        self.item = item
        self.reason = reason
    }
}

/// A labelled set of images loaded from one source.
public struct Dataset: Sendable {
    /// Class names, sorted.
    public var classes: [String]
    public var images: [LabeledImage]
    public var skipped: [SkippedItem]
    /// False when the source has no patient ids: each image is then its own group.
    public var hasGroups: Bool
    /// What was loaded, for reports: `covid-chestxray at PATH`.
    public var source: String
    /// The salt that turned DICOM patient ids into this data set's groups (`DICOMPatients`);
    /// nil when no group came from a DICOM header. Runs copy it into their directory.
    public var pseudonyms: PatientPseudonyms?
    /// How outputs and log lines name the pictures (`--identify-by`); by path unless
    /// `identified(by:digests:threads:)` says otherwise.
    public var names = PictureNames.paths
    /// Classes the source declares but holds no picture of (an empty class folder): training
    /// refuses them by name rather than learn one class fewer than the user sees.
    public var emptyClasses: [String] = []
    /// What the source noticed about its layout (a class folder named `images`, say), for the
    /// person who chose it: shown before training, never a reason to stop.
    public var warnings: [String] = []

    public init(images: [LabeledImage], skipped: [SkippedItem], hasGroups: Bool, source: String) {
        self.images = images
        self.skipped = skipped
        self.hasGroups = hasGroups
        self.source = source
        classes = Array(Set(images.map(\.label))).sorted()
    }

    /// Images per class, in `classes` order.
    public var countsPerClass: [Int] { classes.map { c in images.filter { $0.label == c }.count } }

    /// The data set without the images `reason` gives a reason for; each becomes a skipped
    /// item with that reason. Classes left without images disappear.
    public func removing(_ reason: (LabeledImage) -> String?) -> Dataset {
        var kept: [LabeledImage] = [], removed: [SkippedItem] = []
        for image in images {
            if let why = reason(image) { removed.append(SkippedItem(item: image.path, reason: why)) } else { kept.append(image) }
        }
        return with(images: kept, skipped: skipped + removed)
    }

    /// This data set with other images (its classes those they have), everything else kept.
    public func with(images: [LabeledImage], skipped: [SkippedItem]? = nil, hasGroups: Bool? = nil) -> Dataset {
        var result = self
        result.images = images
        result.skipped = skipped ?? self.skipped
        result.hasGroups = hasGroups ?? self.hasGroups
        result.classes = Array(Set(images.map(\.label))).sorted()
        return result
    }

    /// The first class of `before` this data set no longer has, with why one of its pictures
    /// went (from `skipped`): a class that vanished while loading, which training refuses by name.
    public func lostClass(since before: Dataset) -> (name: String, example: String)? {
        guard let lost = before.classes.first(where: { !classes.contains($0) }) else { return nil }
        let paths = Set(before.images.filter { $0.label == lost }.map(\.path))
        let why = skipped.first { paths.contains($0.item) }.map { " (for example \($0.item): \($0.reason))" } ?? ""
        return (lost, why)
    }
}

/// A data set that cannot be loaded at all (as opposed to single items, which are skipped).
public struct DatasetError: Error, CustomStringConvertible, Sendable {
    public let description: String
    public init(_ description: String) { self.description = description }
}
