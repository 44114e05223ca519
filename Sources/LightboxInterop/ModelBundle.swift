import Foundation
import LightboxHead
import LightboxCore
import LightboxImaging
import LightboxModels

/// A trained model, self-contained: the backbone's identity and weights digest, the head's
/// weights, the class names and the preprocessing. `predict` and `evaluate` need nothing else
/// (the backbone weights come from the cache, checked against the digest).
///
/// Layout: `DIR/lightbox-model.json` and `DIR/head.safetensors`.
public struct ModelBundle: Sendable {
    public static let format = "lightbox-model"
    public static let formatVersion = 1
    public static let manifestName = "lightbox-model.json"
    public static let headName = "head.safetensors"
    public static let disclaimer = "Educational and research software: not a diagnostic device."

    public struct Backbone: Codable, Sendable, Equatable {
        public var id: String
        public var weightsSHA256: String
        enum CodingKeys: String, CodingKey { case id, weightsSHA256 = "weights_sha256" }
    }

    public struct Preprocessing: Codable, Sendable, Equatable {
        public var size: Int
        public var resize: String
        public var mean: [Float]
        public var std: [Float]

        public init(_ p: Preprocessor) {
            size = p.size
            resize = p.policy.rawValue
            mean = p.normalization.mean
            std = p.normalization.std
        }

        public func preprocessor() throws -> Preprocessor {
            guard let policy = ResizePolicy(rawValue: resize), mean.count == 3, std.count == 3, size > 0 else {
                throw WeightsError("model preprocessing is invalid (resize '\(resize)', size \(size))")
            }
            return Preprocessor(size: size, policy: policy, normalization: ChannelNormalization(mean: mean, std: std))
        }
    }

    struct Manifest: Codable {
        var format: String
        var formatVersion: Int
        var classes: [String]
        var backbone: Backbone
        var preprocessing: Preprocessing
        var head: HeadShape
        var created: String?
        var training: [String: String]?
        var disclaimer: String?

        enum CodingKeys: String, CodingKey {
            case format, formatVersion = "format_version", classes, backbone, preprocessing, head, created, training, disclaimer
        }
    }

    struct HeadShape: Codable {
        var inputs: Int, hidden: Int, activation: String, output: String, outputBias: Bool, weights: String
        enum CodingKeys: String, CodingKey {
            case inputs, hidden, activation, output, outputBias = "output_bias", weights
        }
    }

    public var classes: [String]
    public var backbone: Backbone
    public var preprocessing: Preprocessing
    public var head: DenseHead
    /// Free-form facts about how it was trained (data set, options), for people.
    public var training: [String: String]
    /// Files of a backbone that is not built in (a Teachable Machine export's model.json and
    /// weights), kept in `DIR/backbone/` so the bundle stays self-contained.
    public var backboneFiles: [String: Data] = [:]
    /// Where the bundle was read from.
    public var directory: String?
    public static let backboneFolder = "backbone"

    public init(classes: [String], backbone: Backbone, preprocessing: Preprocessing, head: DenseHead,
                training: [String: String] = [:]) {
        self.classes = classes
        self.backbone = backbone
        self.preprocessing = preprocessing
        self.head = head
        self.training = training
    }

    /// Writes the bundle to `directory` atomically: built in a temporary folder beside it,
    /// then swapped in with one rename, so readers never see half a model.
    public func write(to directory: String) throws {
        let manifest = Manifest(format: Self.format, formatVersion: Self.formatVersion, classes: classes, backbone: backbone,
                                preprocessing: preprocessing,
                                head: HeadShape(inputs: head.inputs, hidden: head.hidden, activation: "relu", output: "softmax",
                                                outputBias: false, weights: Self.headName),
                                created: ISO8601DateFormatter().string(from: Date()), training: training,
                                disclaimer: Self.disclaimer)
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.prettyPrinted, .sortedKeys]
        let weights = try SafeTensors.encode([
            "dense1.weight": Tensor(shape: [head.hidden, head.inputs], values: head.w1),
            "dense1.bias": Tensor(shape: [head.hidden], values: head.b1),
            "dense2.weight": Tensor(shape: [head.classes, head.hidden], values: head.w2),
        ], metadata: ["format": Self.format])
        try AtomicDirectory.write(to: directory) { temporary in
            try encoder.encode(manifest).write(to: URL(fileURLWithPath: temporary).appendingPathComponent(Self.manifestName))
            try weights.write(to: URL(fileURLWithPath: temporary).appendingPathComponent(Self.headName))
            if !backboneFiles.isEmpty {
                let folder = URL(fileURLWithPath: temporary).appendingPathComponent(Self.backboneFolder)
                try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
                for (name, data) in backboneFiles { try data.write(to: folder.appendingPathComponent(name)) }
            }
        }
    }

    public static func read(from directory: String) throws -> ModelBundle {
        let manifestPath = (directory as NSString).appendingPathComponent(manifestName)
        guard let data = FileManager.default.contents(atPath: manifestPath) else {
            throw WeightsError("\(directory): not a Lightbox model (no \(manifestName))")
        }
        let manifest: Manifest
        do {
            manifest = try JSONDecoder().decode(Manifest.self, from: data)
        } catch {
            throw WeightsError("\(manifestPath): unreadable model manifest (\(error))")
        }
        guard manifest.format == format else { throw WeightsError("\(manifestPath): format '\(manifest.format)' is not \(format)") }
        guard manifest.formatVersion <= formatVersion else {
            throw WeightsError("\(manifestPath): format version \(manifest.formatVersion) is newer than this Lightbox reads (\(formatVersion)); upgrade Lightbox")
        }
        guard manifest.classes.count >= 2 else { throw WeightsError("\(manifestPath): a model needs at least two classes") }
        let headPath = (directory as NSString).appendingPathComponent(manifest.head.weights)
        guard let headData = FileManager.default.contents(atPath: headPath) else {
            throw WeightsError("\(headPath): head weights missing")
        }
        let store = NamedTensors(try SafeTensors.decode(headData, source: headPath).tensors, source: headPath)
        let s = manifest.head
        let head = try DenseHead(inputs: s.inputs, hidden: s.hidden, classes: manifest.classes.count,
                                 w1: store.tensor("dense1.weight", shape: [s.hidden, s.inputs]).values,
                                 b1: store.tensor("dense1.bias", shape: [s.hidden]).values,
                                 w2: store.tensor("dense2.weight", shape: [manifest.classes.count, s.hidden]).values)
        var bundle = ModelBundle(classes: manifest.classes, backbone: manifest.backbone, preprocessing: manifest.preprocessing,
                                 head: head, training: manifest.training ?? [:])
        bundle.directory = directory
        return bundle
    }
}
