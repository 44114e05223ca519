import Foundation

/// When two class names are the same class, and which folder names are probably not classes.
/// The Studio's class list and every data set source follow the same rule.
public enum ClassNames {
    /// The form two names are compared in: Unicode canonical composition (an "é" typed as one
    /// character or as "e" and an accent is one name), then case folding ("Sick" is "sick").
    public static func key(_ name: String) -> String {
        name.precomposedStringWithCanonicalMapping.folding(options: [.caseInsensitive], locale: nil)
    }

    /// The first pair of `names` (in order) that are one class under `key`, if any: the name seen
    /// first and the one that repeats it.
    public static func firstClash(_ names: [String]) -> (first: String, second: String)? {
        var seen: [String: String] = [:]
        for name in names {
            let k = key(name)
            if let earlier = seen[k], earlier != name { return (earlier, name) }
            if seen[k] == nil { seen[k] = name }
        }
        return nil
    }

    /// Folder names that usually hold something other than a class's pictures (a data set's
    /// image store, masks, annotations, a zip tool's metadata): a class folder named so is
    /// probably a mistake in the layout.
    static let unlikelyClassFolders: Set<String> = [
        "images", "image", "imgs", "img", "masks", "mask", "labels", "label", "annotations", "annotation",
        "metadata", "data", "dataset", "train", "test", "val", "valid", "validation", "__macosx", "thumbs", "thumbnails",
    ]

    /// Why a class folder's name looks like something other than a class, or nil.
    public static func doubtAboutFolder(_ name: String) -> String? {
        guard unlikelyClassFolders.contains(key(name)) else { return nil }
        return "folder '\(name)' is taken as a class, but its name looks like part of a data set's layout, not a class "
            + "(classes are the folders directly under --data, each holding one class's pictures)"
    }

    /// Fewer pictures than this in a class gets a warning: its figures rest on a handful of pictures.
    public static let fewPictures = 10
}
