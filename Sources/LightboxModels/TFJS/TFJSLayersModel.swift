import Foundation
import LightboxCore
import LightboxKernels

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
    /// The export as the user named it (a folder, or a zip).
    public var source: String
    /// Its model.json as errors name it (`ZIP!model.json` inside a zip).
    public var topologyFile: String
    /// The export's files as read (model.json, metadata.json, shards), to copy into a bundle.
    public var files: [String: Data] = [:]

    /// The most a zipped export may unpack to, and the most any one file of an export folder may
    /// hold. A Teachable Machine image export is about 10 MB (MobileNet's weights); the margin
    /// leaves room for larger backbones, not for zip bombs.
    public static let maxUnpackedBytes = 512 << 20

    /// Reads an export directory, or a zip of one (unpacked within `maxUnpackedBytes`).
    public static func load(_ path: String) throws -> TFJSLayersModel {
        var isDirectory: ObjCBool = false
        guard FileManager.default.fileExists(atPath: path, isDirectory: &isDirectory) else {
            throw WeightsError("\(path): no such file or directory")
        }
        if isDirectory.boolValue { return try load(directory: path) }
        let unpacked: URL
        do {
            unpacked = try BoundedUnzip.extractToTemporaryFolder(path, limit: maxUnpackedBytes)
        } catch let error as WeightsError {
            throw error
        } catch {
            throw WeightsError("\(path): not a Teachable Machine export folder or zip (\(error.localizedDescription))")
        }
        defer { try? FileManager.default.removeItem(at: unpacked) }
        // The files may sit at the top of the zip or in one folder inside it.
        let candidates = [unpacked] + ((try? FileManager.default.contentsOfDirectory(at: unpacked, includingPropertiesForKeys: nil)) ?? [])
        guard let root = candidates.first(where: { FileManager.default.fileExists(atPath: $0.appendingPathComponent("model.json").path) }) else {
            throw WeightsError("\(path): the zip has no model.json")
        }
        let inZip = root == unpacked ? path + "!" : path + "!" + root.lastPathComponent + "/"
        do {
            var model = try load(directory: root.path)
            model.source = path
            model.topologyFile = inZip + "model.json"
            return model
        } catch let error as WeightsError {
            // Name the zip the user gave, not the temporary folder.
            throw WeightsError(error.description.replacingOccurrences(of: root.path + "/", with: inZip))
        }
    }

    /// Whether `path` looks like a TF.js export (a folder with model.json, or a .zip).
    public static func isExport(_ path: String) -> Bool {
        path.lowercased().hasSuffix(".zip")
            || FileManager.default.fileExists(atPath: (path as NSString).appendingPathComponent("model.json"))
    }

    static func load(directory: String) throws -> TFJSLayersModel {
        let modelPath = (directory as NSString).appendingPathComponent("model.json")
        let data = try read("model.json", in: directory)
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

        var files = ["model.json": data]
        let weights = try readWeights(root["weightsManifest"], directory: directory, modelPath: modelPath, files: &files)
        var labels: [String] = []
        // metadata.json is optional, but one that is there (a link included) is read by the rules.
        var status = stat()
        if lstat((directory as NSString).appendingPathComponent("metadata.json"), &status) == 0 {
            let m = try read("metadata.json", in: directory)
            files["metadata.json"] = m
            labels = ((try? JSONSerialization.jsonObject(with: m)) as? [String: Any])?["labels"] as? [String] ?? []
        }
        var model = TFJSLayersModel(backbone: backbone, backboneOutput: output, head: head, weights: weights, labels: labels,
                                    source: directory, topologyFile: modelPath)
        model.backboneModelName = modelName
        model.files = files
        return model
    }

    /// The file `name` of the export `directory`, which must stay inside it (`ContainedFile`).
    static func read(_ name: String, in directory: String) throws -> Data {
        do {
            return try ContainedFile.read(name, in: directory, maxBytes: maxUnpackedBytes)
        } catch let refusal as ContainedFile.Refusal {
            throw WeightsError("\((directory as NSString).appendingPathComponent(name)): \(refusal)")
        }
    }

    static func parseLayer(_ object: [String: Any]) -> Layer {
        let config = object["config"] as? [String: Any] ?? [:]
        let name = object["name"] as? String ?? config["name"] as? String ?? "?"
        // inbound_nodes: [[["layer", 0, 0, {}], ...]]
        let inbound = ((object["inbound_nodes"] as? [[[Any]]])?.first ?? []).compactMap { $0.first as? String }
        return Layer(className: object["class_name"] as? String ?? "?", name: name, config: config, inbound: inbound)
    }

    /// Concatenates each manifest group's shards and slices its weights in order.
    /// Each shard read is also kept in `files` under its manifest path (to copy into a bundle).
    static func readWeights(_ manifest: Any?, directory: String, modelPath: String, files: inout [String: Data]) throws -> [String: Tensor] {
        guard let groups = manifest as? [[String: Any]] else { throw WeightsError("\(modelPath): no weightsManifest") }
        var out: [String: Tensor] = [:]
        var total = 0
        for group in groups {
            let paths = group["paths"] as? [String] ?? []
            var bytes = Data()
            for p in paths {
                let shard: Data
                do {
                    shard = try ContainedFile.read(p, in: directory, maxBytes: maxUnpackedBytes - total)
                } catch let refusal as ContainedFile.Refusal {
                    throw WeightsError("\((directory as NSString).appendingPathComponent(p)): weight shard refused (named in \(modelPath)): \(refusal)")
                }
                total += shard.count
                files[p] = shard
                bytes.append(shard)
            }
            var offset = 0
            for (index, entry) in (group["weights"] as? [[String: Any]] ?? []).enumerated() {
                guard let name = entry["name"] as? String, let shape = entry["shape"] as? [Int] else {
                    throw WeightsError("\(modelPath): weight entry \(index + 1) of its group has no name or shape")
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
