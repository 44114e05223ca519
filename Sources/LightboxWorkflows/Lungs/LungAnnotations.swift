import Foundation
import LightboxCore
import LightboxData
import LightboxImaging

/// Lung boxes from a COCO-style file (the covid-chestxray collection's
/// `annotations/imageannotation_ai_lung_bounding_boxes.json`, or a user's own): `images` with
/// `id`, `file_name`, `width`, `height` and optionally `metadata.patientid`; `annotations` with
/// `image_id` and `bbox` `[x, y, width, height]` in the pixels of the recorded size. Every box of
/// a picture (right and left lung, or one box of both) is joined into the box around both lungs.
public struct LungAnnotations: Sendable {
    public struct Picture: Sendable, Equatable {
        /// The file, inside the images folder.
        public var path: String
        /// Both lungs, as fractions of the picture (the recorded size: a copy scaled down keeps them).
        public var box: LungBox
        /// The patient (`metadata.patientid`), or the file itself when none is recorded.
        public var group: String
    }

    public var pictures: [Picture]
    /// Pictures of the file left out, each with why (no file in the folder, no usable box).
    public var skipped: [String]
    /// Pictures without a recorded patient: each counts as its own patient in cross-validation.
    public var withoutPatient: Int
    /// The file's `licenses` entries (name and url) and `info.description`, for the locator's record.
    public var licence: String
    public var source: String

    /// Reads `file`, finding each picture in `images` (names may not leave that folder).
    public static func read(_ file: String, images folder: String, maxBytes: Int = 256 << 20) throws -> LungAnnotations {
        let data: Data
        do {
            data = try ContainedFile.read(userFile: file, maxBytes: maxBytes)
        } catch {
            throw DatasetError("\(file): cannot read the boxes (\(error))")
        }
        guard let root = try? JSONSerialization.jsonObject(with: data) as? [String: Any] else {
            throw DatasetError("\(file): not a JSON object (expected COCO's layout: images and annotations)")
        }
        guard let images = root["images"] as? [[String: Any]], let annotations = root["annotations"] as? [[String: Any]] else {
            throw DatasetError("\(file): no 'images' and 'annotations' lists (expected COCO's layout)")
        }
        var boxesByImage: [Int: [[Double]]] = [:]
        for a in annotations {
            guard let id = (a["image_id"] as? NSNumber)?.intValue,
                  let b = a["bbox"] as? [Any], b.count == 4 else { continue }
            let values = b.compactMap { ($0 as? NSNumber)?.doubleValue }
            guard values.count == 4, values.allSatisfy(\.isFinite), values[2] > 0, values[3] > 0 else { continue }
            boxesByImage[id, default: []].append(values)
        }
        guard let imagesRoot = ContainedFile.realPath(folder) else { throw DatasetError("\(folder): no such folder of images") }
        var result = LungAnnotations(pictures: [], skipped: [], withoutPatient: 0, licence: licence(root), source: source(root, file: file))
        var seen = Set<String>()
        for image in images {
            let name = image["file_name"] as? String ?? ""
            guard let id = (image["id"] as? NSNumber)?.intValue, !name.isEmpty,
                  let width = (image["width"] as? NSNumber)?.doubleValue, let height = (image["height"] as? NSNumber)?.doubleValue,
                  width >= 1, height >= 1, width.isFinite, height.isFinite else {
                result.skipped.append("\(name.isEmpty ? "(an image without file_name)" : name): no id, width or height")
                continue
            }
            guard let boxes = boxesByImage[id], !boxes.isEmpty else {
                result.skipped.append("\(name): no usable box")
                continue
            }
            let path = (folder as NSString).appendingPathComponent(name)
            guard let real = ContainedFile.realPath(path) else {
                result.skipped.append("\(name): not in \(folder)")
                continue
            }
            guard ContainedFile.isInside(real, roots: [imagesRoot]), !seen.contains(real) else {
                result.skipped.append("\(name): outside the images folder, or listed twice")
                continue
            }
            seen.insert(real)
            let box = LungBox(x0: boxes.map { $0[0] }.min()! / width, y0: boxes.map { $0[1] }.min()! / height,
                              x1: boxes.map { $0[0] + $0[2] }.max()! / width, y1: boxes.map { $0[1] + $0[3] }.max()! / height).clamped()
            guard box.area > 0 else {
                result.skipped.append("\(name): its box lies outside the picture")
                continue
            }
            let meta = image["metadata"] as? [String: Any]
            let patient = Self.patient(meta?["patientid"])
            if patient == nil { result.withoutPatient += 1 }
            result.pictures.append(Picture(path: path, box: box, group: patient.map { "patient:\($0)" } ?? "file:\(name)"))
        }
        guard !result.pictures.isEmpty else {
            throw DatasetError("\(file): no picture with a usable box found in \(folder)" + (result.skipped.first.map { " (first left out: \($0))" } ?? ""))
        }
        return result
    }

    /// A recorded patient id, text or number; nil when absent or empty.
    static func patient(_ value: Any?) -> String? {
        if let text = value as? String { return text.isEmpty ? nil : text }
        if let number = value as? NSNumber { return number.stringValue }
        return nil
    }

    static func licence(_ root: [String: Any]) -> String {
        let entries: [[String: Any]]
        if let list = root["licenses"] as? [[String: Any]] { entries = list } else if let one = root["licenses"] as? [String: Any] { entries = [one] } else { entries = [] }
        return entries.map { e in [e["name"], e["url"]].compactMap { $0 as? String }.filter { !$0.isEmpty }.joined(separator: ", ") }
            .filter { !$0.isEmpty }.joined(separator: "; ")
    }

    static func source(_ root: [String: Any], file: String) -> String {
        let info = root["info"] as? [String: Any]
        let parts = [info?["description"], info?["creator"]].compactMap { $0 as? String }.filter { !$0.isEmpty }
        return ((file as NSString).lastPathComponent) + (parts.isEmpty ? "" : " (\(parts.joined(separator: ", ")))")
    }
}
