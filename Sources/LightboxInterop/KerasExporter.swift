import Foundation
import LightboxCore
import LightboxModels

/// Teachable Machine's "TensorFlow → Keras" download: `keras_model.h5` in Keras's legacy HDF5
/// layout (which Keras 2 and Keras 3 both load: `model_config` and `model_weights`) and
/// `labels.txt` (`0 COVID-19` lines). The model takes Teachable Machine's input (RGB 224x224,
/// x / 127.5 - 1) and gives class probabilities (before the bundle's calibration, which the
/// file's `lightbox_calibration` attribute records beside `lightbox_operating_point`).
public enum KerasExporter {
    public static let modelFileName = "keras_model.h5", labelsFileName = "labels.txt"

    /// Whether `out` names the model file (it ends in .h5) rather than a folder for both files.
    public static func writesFile(_ out: String) -> Bool { out.lowercased().hasSuffix(".h5") }

    /// labels.txt beside the model file `out`.
    public static func labelsPath(besideModel out: String) -> String {
        URL(fileURLWithPath: out).deletingLastPathComponent().appendingPathComponent(labelsFileName).path
    }

    /// `out` ending in `.h5` is the model file, with labels.txt beside it; any other `out` is a
    /// folder that receives both. Written atomically, as the other exports.
    public static func export(_ bundle: ModelBundle, to out: String, weightsFolder: String) throws {
        let keras = try KerasModel(bundle, weightsFolder: weightsFolder)
        let labels = Data(bundle.classes.enumerated().map { "\($0.offset) \($0.element)\n" }.joined().utf8)
        if writesFile(out) {
            let model = try file(keras, naming: out)
            try AtomicFile.write(model, to: out)
            try AtomicFile.write(labels, to: labelsPath(besideModel: out))
        } else {
            let model = try file(keras, naming: (out as NSString).appendingPathComponent(modelFileName))
            try AtomicDirectory.write(to: out) { temporary in
                try model.write(to: URL(fileURLWithPath: temporary).appendingPathComponent(modelFileName))
                try labels.write(to: URL(fileURLWithPath: temporary).appendingPathComponent(labelsFileName))
            }
        }
    }

    /// The `.h5` bytes. Layout as Keras 2's `save_model_to_hdf5`: root attributes
    /// `model_config`, `keras_version`, `backend`; group `model_weights` listing the top-level
    /// layers (`layer_names`), one group each with its `weight_names` and a dataset per weight.
    /// Keras loads a layer's weights by position, in the order `trainable_weights` then
    /// `non_trainable_weights` of its sub-layers, so each group lists them in that order.
    static func file(_ keras: KerasModel, naming path: String) throws -> Data {
        HDF5Writer.lock.lock()
        defer { HDF5Writer.lock.unlock() }
        let h5 = try HDF5Writer(naming: path)
        defer { h5.close() }
        let config = try JSONSerialization.data(withJSONObject: keras.topology(tfjs: false), options: [.sortedKeys, .withoutEscapingSlashes])
        try h5.attribute("model_config", string: String(decoding: config, as: UTF8.self), on: h5.root)
        try h5.attribute("keras_version", string: kerasVersion, on: h5.root)
        try h5.attribute("backend", string: "tensorflow", on: h5.root)
        if let steps = keras.stepsOutsideExport { try h5.attribute("lightbox_preprocessing_outside_model", string: steps, on: h5.root) }
        // What `predict` does after the model, as the ONNX export's metadata says it (JSON): the
        // decision threshold, and the temperature applied before it (softmax(log(p) / T)).
        if let point = keras.operatingPointJSON { try h5.attribute("lightbox_operating_point", string: point, on: h5.root) }
        if let calibration = keras.calibrationJSON { try h5.attribute("lightbox_calibration", string: calibration, on: h5.root) }
        let weights = try h5.group("model_weights", in: h5.root)
        try h5.attribute("keras_version", string: kerasVersion, on: weights)
        try h5.attribute("backend", string: "tensorflow", on: weights)
        let byName = Dictionary(keras.writer.tensors.map { ($0.name, $0) }, uniquingKeysWith: { a, _ in a })
        if keras.functional {
            // A functional model (a fine-tuned ensemble): one group per layer, in the topology's
            // order, each listing its own weights (Keras 2's save_weights_to_hdf5_group).
            let layers = kerasLayerOrder(keras.writer.layers)
            try h5.attribute("layer_names", strings: layers.compactMap { $0["name"] as? String }, on: weights)
            var written = 0
            for layer in layers {
                guard let name = layer["name"] as? String else { continue }
                let tensors = ordered([layer], byName)
                written += tensors.count
                let group = try h5.group(name, in: weights)
                try h5.attribute("weight_names", strings: tensors.map { "\($0.name):0" }, on: group)
                for t in tensors { try h5.dataset("\(t.name):0", shape: t.shape, values: t.values, in: group) }
            }
            guard written == keras.writer.tensors.count else {
                throw WeightsError("\(path): \(keras.writer.tensors.count - written) weights belong to no layer")
            }
            return try h5.image()
        }
        try h5.attribute("layer_names", strings: [KerasModel.backboneGroup, KerasModel.headGroup], on: weights)

        let backbone = ordered(keras.writer.layers, byName)
        let head = ordered(keras.writer.dense, byName)
        guard backbone.count + head.count == keras.writer.tensors.count else {
            throw WeightsError("\(path): \(keras.writer.tensors.count - backbone.count - head.count) weights belong to no layer")
        }
        for (groupName, tensors) in [(KerasModel.backboneGroup, backbone), (KerasModel.headGroup, head)] {
            let group = try h5.group(groupName, in: weights)
            try h5.attribute("weight_names", strings: tensors.map { "\($0.name):0" }, on: group)
            for t in tensors { try h5.dataset("\(t.name):0", shape: t.shape, values: t.values, in: group) }
        }
        return try h5.image()
    }

    /// A functional model's layers in the order Keras lists `model.layers`, which is the order
    /// its `.h5` loader pairs weight groups with layers (by position, not by name): by depth
    /// from the output, deepest (the input) first, ties in the order a depth-first walk from the
    /// output meets them (tf_keras and Keras 3 `_map_graph_network` / `map_graph`). For parallel
    /// branches, as an ensemble's members, this interleaves them.
    static func kerasLayerOrder(_ layers: [[String: Any]]) -> [[String: Any]] {
        let names = layers.compactMap { $0["name"] as? String }
        var inbound: [String: [String]] = [:]
        for layer in layers {
            guard let name = layer["name"] as? String else { continue }
            let nodes = layer["inbound_nodes"] as? [[Any]] ?? []
            inbound[name] = nodes.first?.compactMap { ($0 as? [Any])?.first as? String } ?? []
        }
        guard let output = names.last else { return layers }
        // Depth: the longest path to the output; the config lists producers before consumers.
        var depth: [String: Int] = [output: 0]
        for name in names.reversed() {
            let d = depth[name] ?? 0
            for i in inbound[name] ?? [] { depth[i] = max(depth[i] ?? 0, d + 1) }
        }
        var index: [String: Int] = [:]
        func walk(_ name: String) {
            if index[name] == nil { index[name] = index.count }
            for i in inbound[name] ?? [] where index[i] == nil { walk(i) }
        }
        walk(output)
        return layers.sorted {
            let a = $0["name"] as? String ?? "", b = $1["name"] as? String ?? ""
            let (da, db) = (depth[a] ?? 0, depth[b] ?? 0)
            return da != db ? da > db : (index[a] ?? Int.max) < (index[b] ?? Int.max)
        }
    }

    /// Keras 2 wrote this; loaders read it only to convert files from Keras 1.
    static let kerasVersion = "2.15.0"

    /// The weights of `layers` (configs with `class_name` and `config.name`) in Keras's loading
    /// order: every layer's trainable weights, then every layer's non-trainable ones.
    static func ordered(_ layers: [[String: Any]], _ byName: [String: (name: String, shape: [Int], values: [Float])])
        -> [(name: String, shape: [Int], values: [Float])] {
        var trainable: [(name: String, shape: [Int], values: [Float])] = [], frozen = trainable
        for layer in layers {
            guard let cls = layer["class_name"] as? String, let name = (layer["config"] as? [String: Any])?["name"] as? String
                    ?? layer["name"] as? String,
                  let names = KerasLayerWeights.names(ofClass: cls) else { continue }
            trainable += names.trainable.compactMap { byName["\(name)/\($0)"] }
            frozen += names.nonTrainable.compactMap { byName["\(name)/\($0)"] }
        }
        return trainable + frozen
    }
}
