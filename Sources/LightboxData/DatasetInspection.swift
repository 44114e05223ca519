import Foundation
import LightboxCore
import LightboxImaging

/// What `lightbox dataset inspect` shows.
public enum DatasetInspection {
    /// Files among `paths` that do not decode, found on `threads` threads.
    public static func undecodable(_ paths: [String], decoder: ImageDecoder, threads: Int) -> [ImageDecodingError] {
        Parallel.map(paths.count, threads: threads) { i -> ImageDecodingError? in
            do {
                _ = try decoder.decode(file: paths[i])
                return nil
            } catch let e as ImageDecodingError {
                return e
            } catch {
                return ImageDecodingError(path: paths[i], reason: .corrupt("\(error)"))
            }
        }.compactMap { $0 }
    }

    public static func summary(_ d: Dataset) -> String {
        var out = "data set: \(d.source)\n"
        out += d.hasGroups ? "groups: patient ids from the source (splits keep a patient's images together)\n"
                           : "groups: none in the source, so each image is its own group\n"
        out += "\(d.images.count) images, \(Set(d.images.map(\.group)).count) groups, \(d.classes.count) classes\n\n"
        out += "class".padding(toLength: 24, withPad: " ", startingAt: 0) + "images  groups  images/group (min/median/max)\n"
        for c in d.classes {
            let images = d.images.filter { $0.label == c }
            var perGroup: [String: Int] = [:]
            for i in images { perGroup[i.group, default: 0] += 1 }
            let counts = perGroup.values.sorted()
            out += c.padding(toLength: 24, withPad: " ", startingAt: 0)
                + String(format: "%6d  %6d  %d/%d/%d\n", images.count, perGroup.count, counts.first ?? 0,
                         counts.isEmpty ? 0 : counts[counts.count / 2], counts.last ?? 0)
        }
        out += "\n\(d.skipped.count) skipped"
        if !d.skipped.isEmpty {
            out += ":\n"
            for s in d.skipped { out += "  \(d.names.item(s.item)): \(s.reason)\n" }
        } else {
            out += "\n"
        }
        return out
    }
}
