import Foundation
import LightboxKernels
import ZIPFoundation

/// A tfjs-layers model as Teachable Machine exports it: `model.json` (Keras-style topology and
/// a weights manifest), the weight shards (`weights.bin`, little-endian float32 in manifest
/// order) and `metadata.json` (the class labels).
public struct TFJSLayersModel: Sendable {
    /// One Keras layer as the topology describes it.
    public struct Layer: @unchecked Sendable {
        public var className: String
        public var name: String
        public var config: [String: Any]
        /// Names of the layers feeding this one (functional models only).
        public var inbound: [String]
    }

    /// Layers of the functional model (the backbone), in file order.
    public var backbone: [Layer]
    /// The backbone's output layer.
    public var backboneOutput: String
    /// The functional model's name (`mobilenetv2_0.35_224`).
    public var backboneModelName = "model"
    /// Layers after the backbone (pooling, dense layers), in order.
    public var head: [Layer]
    /// Weights by name (`layer/param`), in Keras layouts.
    public var weights: [String: Tensor]
    public var labels: [String]
    public var source: String
    /// The export's files as read (model.json, metadata.json, shards), to copy into a bundle.
    public var files: [String: Data] = [:]

    /// The most a zipped export may unpack to. A Teachable Machine image export is about 10 MB
    /// (MobileNet's weights); the margin leaves room for larger backbones, not for zip bombs.
    public static let maxUnpackedBytes = 512 << 20

    /// Reads an export directory, or a zip of one (unpacked within `maxUnpackedBytes`).
    public static func load(_ path: String) throws -> TFJSLayersModel {
        var isDirectory: ObjCBool = false
        guard FileManager.default.fileExists(atPath: path, isDirectory: &isDirectory) else {
            throw WeightsError("\(path): no such file or directory")
        }
        if isDirectory.boolValue { return try load(directory: path) }
        let unpacked = FileManager.default.temporaryDirectory.appendingPathComponent("lightbox-tfjs-\(UUID().uuidString)")
        defer { try? FileManager.default.removeItem(at: unpacked) }
        do {
            try FileManager.default.createDirectory(at: unpacked, withIntermediateDirectories: true)
            try BoundedUnzip.extract(path, to: unpacked, limit: maxUnpackedBytes)
        } catch let error as WeightsError {
            throw error
        } catch {
            throw WeightsError("\(path): not a Teachable Machine export folder or zip (\(error.localizedDescription))")
        }
        // The files may sit at the top of the zip or in one folder inside it.
        let candidates = [unpacked] + ((try? FileManager.default.contentsOfDirectory(at: unpacked, includingPropertiesForKeys: nil)) ?? [])
        guard let root = candidates.first(where: { FileManager.default.fileExists(atPath: $0.appendingPathComponent("model.json").path) }) else {
            throw WeightsError("\(path): the zip has no model.json")
        }
        var model = try load(directory: root.path)
        model.source = path
        return model
    }

    /// Whether `path` looks like a TF.js export (a folder with model.json, or a .zip).
    public static func isExport(_ path: String) -> Bool {
        path.lowercased().hasSuffix(".zip")
            || FileManager.default.fileExists(atPath: (path as NSString).appendingPathComponent("model.json"))
    }

    static func load(directory: String) throws -> TFJSLayersModel {
        let modelPath = (directory as NSString).appendingPathComponent("model.json")
        guard let data = FileManager.default.contents(atPath: modelPath) else { throw WeightsError("\(modelPath): cannot read file") }
        guard let root = (try? JSONSerialization.jsonObject(with: data)) as? [String: Any] else {
            throw WeightsError("\(modelPath): not valid JSON")
        }
        guard let topology = root["modelTopology"] as? [String: Any] else {
            throw WeightsError("\(modelPath): no modelTopology (not a tfjs-layers model)")
        }
        var backbone: [Layer] = [], head: [Layer] = []
        var output: String?
        var modelName = "model"
        func walk(_ object: [String: Any]) throws {
            let className = object["class_name"] as? String ?? ""
            let config = object["config"]
            switch className {
            case "Sequential":
                let layers = (config as? [[String: Any]]) ?? ((config as? [String: Any])?["layers"] as? [[String: Any]]) ?? []
                for l in layers { try walk(l) }
            case "Model", "Functional":
                guard output == nil, let c = config as? [String: Any], let layers = c["layers"] as? [[String: Any]] else {
                    throw WeightsError("\(modelPath): only one functional model is supported")
                }
                backbone = layers.map(parseLayer)
                output = ((c["output_layers"] as? [[Any]])?.first?.first as? String)
                modelName = c["name"] as? String ?? "model"
            default:
                guard output != nil || className == "InputLayer" else {
                    throw WeightsError("\(modelPath): layer '\(className)' before the backbone model is not supported")
                }
                if className != "InputLayer" { head.append(parseLayer(object)) }
            }
        }
        try walk(topology["model_config"] as? [String: Any] ?? topology)
        guard let output, !backbone.isEmpty else { throw WeightsError("\(modelPath): no functional backbone model found") }

        let weights = try readWeights(root["weightsManifest"], directory: directory, modelPath: modelPath)
        var labels: [String] = []
        let metadataPath = (directory as NSString).appendingPathComponent("metadata.json")
        if let m = FileManager.default.contents(atPath: metadataPath),
           let meta = (try? JSONSerialization.jsonObject(with: m)) as? [String: Any] {
            labels = meta["labels"] as? [String] ?? []
        }
        var model = TFJSLayersModel(backbone: backbone, backboneOutput: output, head: head, weights: weights, labels: labels,
                                    source: directory)
        model.backboneModelName = modelName
        let shards = ((root["weightsManifest"] as? [[String: Any]]) ?? []).flatMap { $0["paths"] as? [String] ?? [] }
        for name in ["model.json", "metadata.json"] + shards {
            model.files[name] = FileManager.default.contents(atPath: (directory as NSString).appendingPathComponent(name))
        }
        return model
    }

    static func parseLayer(_ object: [String: Any]) -> Layer {
        let config = object["config"] as? [String: Any] ?? [:]
        let name = object["name"] as? String ?? config["name"] as? String ?? "?"
        // inbound_nodes: [[["layer", 0, 0, {}], ...]]
        let inbound = ((object["inbound_nodes"] as? [[[Any]]])?.first ?? []).compactMap { $0.first as? String }
        return Layer(className: object["class_name"] as? String ?? "?", name: name, config: config, inbound: inbound)
    }

    /// Concatenates each manifest group's shards and slices its weights in order.
    static func readWeights(_ manifest: Any?, directory: String, modelPath: String) throws -> [String: Tensor] {
        guard let groups = manifest as? [[String: Any]] else { throw WeightsError("\(modelPath): no weightsManifest") }
        var out: [String: Tensor] = [:]
        for group in groups {
            let paths = group["paths"] as? [String] ?? []
            var bytes = Data()
            for p in paths {
                let file = (directory as NSString).appendingPathComponent(p)
                guard !p.contains(".."), !p.hasPrefix("/"), let shard = FileManager.default.contents(atPath: file) else {
                    throw WeightsError("\(file): weight shard missing or unreadable (named in \(modelPath))")
                }
                bytes.append(shard)
            }
            var offset = 0
            for entry in group["weights"] as? [[String: Any]] ?? [] {
                guard let name = entry["name"] as? String, let shape = entry["shape"] as? [Int] else {
                    throw WeightsError("\(modelPath): malformed weight entry \(entry)")
                }
                guard (entry["dtype"] as? String ?? "float32") == "float32", entry["quantization"] == nil else {
                    throw WeightsError("\(modelPath): weight '\(name)' is not plain float32 (quantised exports are not supported)")
                }
                guard let count = ShapeMath.elementCount(shape) else {
                    throw WeightsError("\(modelPath): weight '\(name)' has an impossible shape \(shape)")
                }
                guard count * 4 <= bytes.count - offset else {
                    throw WeightsError("\(modelPath): weight shards end before '\(name)' (\(bytes.count) bytes): a shard is missing or truncated")
                }
                var values = [Float](repeating: 0, count: count)
                values.withUnsafeMutableBytes { dst in
                    bytes.withUnsafeBytes { dst.copyMemory(from: UnsafeRawBufferPointer(rebasing: $0[offset..<(offset + count * 4)])) }
                }
                out[name] = Tensor(shape: shape, values: values)
                offset += count * 4
            }
            guard offset == bytes.count else {
                throw WeightsError("\(modelPath): weight shards hold \(bytes.count) bytes, the manifest describes \(offset)")
            }
        }
        return out
    }
}
