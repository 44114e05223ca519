import Foundation
import LightboxImaging
import LightboxCore

/// SHA-256 of every file's bytes: the identity of an image for the embedding cache and
/// for finding the same picture under two names.
public enum ContentDigests {
    /// Digests of `paths`, computed on `threads` threads; unreadable files map to their error.
    public static func compute(_ paths: [String], threads: Int) -> [String: Result<String, ImageDecodingError>] {
        let unique = Array(Set(paths))
        let results = Parallel.map(unique.count, threads: threads) { i -> Result<String, ImageDecodingError> in
            guard let data = FileManager.default.contents(atPath: unique[i]) else {
                return .failure(ImageDecodingError(path: unique[i], reason: .unreadable("cannot open")))
            }
            return data.isEmpty ? .failure(ImageDecodingError(path: unique[i], reason: .empty)) : .success(SHA256.hex(data))
        }
        return Dictionary(uniqueKeysWithValues: zip(unique, results))
    }
}

/// Removes repeated pictures before splitting, so none is used twice or on both sides of a
/// split: the first copy (by path) stays when every copy has the same label; when the
/// labels disagree, all copies go. Each removal is reported, the other copies named as
/// `dataset.names` names them.
public enum DuplicateFilter {
    public static func apply(_ dataset: Dataset, digests: [String: Result<String, ImageDecodingError>]) -> Dataset {
        var byDigest: [String: [LabeledImage]] = [:]
        var kept: [LabeledImage] = []
        var skipped = dataset.skipped
        let names = dataset.names
        for image in dataset.images {
            switch digests[image.path] {
            case .success(let digest)?: byDigest[digest, default: []].append(image)
            case .failure(let error)?: skipped.append(SkippedItem(item: image.path, reason: "\(error.reason)"))
            case nil: skipped.append(SkippedItem(item: image.path, reason: "not read"))
            }
        }
        var dropped = Set<String>()
        for copies in byDigest.values where copies.count > 1 {
            let sorted = copies.sorted { $0.path < $1.path }
            if Set(sorted.map(\.label)).count > 1 {
                for c in sorted {
                    dropped.insert(c.path)
                    skipped.append(SkippedItem(item: c.path, reason: "same image under another class (\(sorted.map { "\($0.label): \(names.name($0.path))" }.joined(separator: "; ")))"))
                }
            } else {
                for c in sorted.dropFirst() {
                    dropped.insert(c.path)
                    skipped.append(SkippedItem(item: c.path, reason: "duplicate of \(names.name(sorted[0].path))"))
                }
            }
        }
        for image in dataset.images where !dropped.contains(image.path) {
            if case .success? = digests[image.path] { kept.append(image) }
        }
        var out = dataset.with(images: kept, skipped: skipped)
        out.names = names
        return out
    }
}
