import Foundation
import LightboxHead
import LightboxCore
import LightboxImaging
import LightboxModels

/// A trained model, self-contained: the backbone's identity and weights digest, the head's
/// weights, the class names and the preprocessing. `predict` and `evaluate` need nothing else
/// (the backbone weights come from the cache, checked against the digest).
///
/// Layout: `DIR/lightbox-model.json` and `DIR/head.safetensors` (the head method), or
/// `DIR/member-N.safetensors` for each member of a fine-tuned ensemble (`fineTuned`).
public struct ModelBundle: Sendable {
    public static let format = "lightbox-model"
    /// 1: a dense head on the frozen backbone; 2 adds fine-tuned ensembles (written only for them,
    /// so head bundles stay readable by Lightbox versions that read 1).
    public static let formatVersion = 2
    /// The version a head bundle is written with (and what exports of one record).
    public static let headFormatVersion = 1
    public static let manifestName = "lightbox-model.json"
    public static let headName = "head.safetensors"
    public static let disclaimer = "Educational and research software: not a diagnostic device."

    public struct Backbone: Codable, Sendable, Equatable {
        public var id: String
        public var weightsSHA256: String
        enum CodingKeys: String, CodingKey { case id, weightsSHA256 = "weights_sha256" }

        public init(id: String, weightsSHA256: String) {
            self.id = id
            self.weightsSHA256 = weightsSHA256
        }
    }

    public struct Preprocessing: Codable, Sendable, Equatable {
        public var size: Int
        public var resize: String
        public var mean: [Float]
        public var std: [Float]
        /// Contrast equalisation after resizing (`clahe`, `histogram`); absent: none.
        public var equalize: String?

        public init(_ p: Preprocessor) {
            size = p.size
            resize = p.policy.rawValue
            mean = p.normalization.mean
            std = p.normalization.std
            equalize = p.equalization == .none ? nil : p.equalization.rawValue
        }

        /// The equalisation the model expects (`none` when the bundle names none).
        public var equalization: Equalization? { Equalization(rawValue: equalize ?? Equalization.none.rawValue) }

        public func preprocessor() throws -> Preprocessor {
            guard let policy = ResizePolicy(rawValue: resize), mean.count == 3, std.count == 3, size > 0 else {
                throw WeightsError("model preprocessing is invalid (resize '\(resize)', size \(size))")
            }
            guard let equalization else {
                throw WeightsError("model preprocessing is invalid (equalize '\(equalize ?? "")' is not none, clahe or histogram)")
            }
            return Preprocessor(size: size, policy: policy, normalization: ChannelNormalization(mean: mean, std: std),
                                equalization: equalization)
        }
    }

    struct Manifest: Codable {
        var format: String
        var formatVersion: Int
        var classes: [String]
        var backbone: Backbone
        var preprocessing: Preprocessing
        var head: HeadShape?
        var fineTuning: FineTuning?
        var operatingPoint: OperatingPoint?
        var created: String?
        var training: [String: String]?
        var disclaimer: String?

        enum CodingKeys: String, CodingKey {
            case format, formatVersion = "format_version", classes, backbone, preprocessing, head, fineTuning = "fine_tuning",
                 operatingPoint = "operating_point", created, training, disclaimer
        }
    }

    /// A fine-tuned ensemble in the manifest: where the trained modules start, each member's file.
    struct FineTuning: Codable {
        var firstModule: Int
        var members: [String]
        enum CodingKeys: String, CodingKey { case firstModule = "first_module", members }
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
    /// The dense head (the head method); nil for a fine-tuned ensemble.
    public var head: DenseHead?
    /// The fine-tuned ensemble: MobileNetV2's modules from `firstModule` on and a linear head,
    /// per member; nil for the head method.
    public var fineTuned: FineTunedEnsemble?
    /// A two-class model's decision threshold (chosen on the validation split); nil: argmax.
    public var operatingPoint: OperatingPoint?
    /// How this model turns probabilities into a predicted class.
    public var decisionRule: DecisionRule { DecisionRule(operatingPoint: operatingPoint, classes: classes) }
    /// Free-form facts about how it was trained (data set, options), for people.
    public var training: [String: String]
    /// Files of a backbone that is not built in (a Teachable Machine export's model.json and
    /// weights), kept in `DIR/backbone/` so the bundle stays self-contained.
    public var backboneFiles: [String: Data] = [:]
    /// Where the bundle was read from (for a zipped bundle, the folder it was unpacked into).
    public var directory: String?
    /// The unpacked copy of a zipped bundle, removed when the last copy of this value goes.
    var unpacked: UnpackedArchive?
    public static let backboneFolder = "backbone"

    public init(classes: [String], backbone: Backbone, preprocessing: Preprocessing, head: DenseHead,
                training: [String: String] = [:]) {
        self.classes = classes
        self.backbone = backbone
        self.preprocessing = preprocessing
        self.head = head
        self.training = training
    }

    public init(classes: [String], backbone: Backbone, preprocessing: Preprocessing, fineTuned: FineTunedEnsemble,
                training: [String: String] = [:]) {
        self.classes = classes
        self.backbone = backbone
        self.preprocessing = preprocessing
        self.fineTuned = fineTuned
        self.training = training
    }

    /// What an exported model cannot do itself and its user must do before it (the bundle's
    /// contrast equalisation), in words; nil when the export is complete. Exports record it in
    /// their metadata and `lightbox export` prints it.
    public var stepsOutsideExport: String? {
        guard let e = preprocessing.equalize, e != Equalization.none.rawValue else { return nil }
        let how = e == Equalization.clahe.rawValue
            ? "cv2.createCLAHE(clipLimit=2.0, tileGridSize=(8, 8)).apply(gray)" : "cv2.equalizeHist(gray)"
        return "the model was trained on contrast-equalised pictures (\(e)), which this export cannot do: after resizing to \(preprocessing.size)x\(preprocessing.size), round the grey levels to 8 bits and apply \(how), then use the result for all three channels"
    }

    /// The dense head, for what only the head method has yet (exports); a clear error for a fine-tuned model.
    public func denseHead(for use: String) throws -> DenseHead {
        guard let head else {
            throw WeightsError("\(use) of a fine-tuned model (--method finetune) is not supported yet; train with --method head for it")
        }
        return head
    }

    /// Writes the bundle to `directory` atomically: built in a temporary folder beside it,
    /// then swapped in with one rename, so readers never see half a model.
    public func write(to directory: String) throws {
        var files: [String: Data] = [:]
        var headShape: HeadShape?, fineTuning: FineTuning?
        if let head {
            headShape = HeadShape(inputs: head.inputs, hidden: head.hidden, activation: "relu", output: "softmax",
                                  outputBias: false, weights: Self.headName)
            files[Self.headName] = try SafeTensors.encode([
                "dense1.weight": Tensor(shape: [head.hidden, head.inputs], values: head.w1),
                "dense1.bias": Tensor(shape: [head.hidden], values: head.b1),
                "dense2.weight": Tensor(shape: [head.classes, head.hidden], values: head.w2),
            ], metadata: ["format": Self.format])
        }
        if let fineTuned {
            let names = fineTuned.members.indices.map { "member-\($0).safetensors" }
            fineTuning = FineTuning(firstModule: fineTuned.firstModule, members: names)
            for (name, tensors) in zip(names, fineTuned.members) {
                files[name] = try SafeTensors.encode(tensors, metadata: ["format": Self.format])
            }
        }
        guard (headShape == nil) != (fineTuning == nil) else { throw WeightsError("a model has either a dense head or a fine-tuned ensemble") }
        let manifest = Manifest(format: Self.format, formatVersion: fineTuning == nil ? Self.headFormatVersion : Self.formatVersion, classes: classes, backbone: backbone,
                                preprocessing: preprocessing, head: headShape, fineTuning: fineTuning,
                                operatingPoint: operatingPoint, created: ISO8601DateFormatter().string(from: Date()), training: training,
                                disclaimer: Self.disclaimer)
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.prettyPrinted, .sortedKeys]
        try AtomicDirectory.write(to: directory) { temporary in
            try encoder.encode(manifest).write(to: URL(fileURLWithPath: temporary).appendingPathComponent(Self.manifestName))
            for (name, data) in files { try data.write(to: URL(fileURLWithPath: temporary).appendingPathComponent(name)) }
            if !backboneFiles.isEmpty {
                let folder = URL(fileURLWithPath: temporary).appendingPathComponent(Self.backboneFolder)
                try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
                for (name, data) in backboneFiles { try data.write(to: folder.appendingPathComponent(name)) }
            }
        }
    }

    /// The most a zipped bundle may unpack to (a fine-tuned ensemble's weights are tens of MB).
    public static let maxUnpackedBytes = 1 << 30

    /// Whether `path` is a zip holding a bundle, at its top or in one folder (as the Studio's
    /// download is): what `read(from:)` also accepts.
    public static func isArchive(_ path: String) -> Bool {
        var isDirectory: ObjCBool = false
        guard FileManager.default.fileExists(atPath: path, isDirectory: &isDirectory), !isDirectory.boolValue,
              let entries = try? BoundedUnzip.entryPaths(path) else { return false }
        return entries.contains { $0 == manifestName || ($0.hasSuffix("/" + manifestName) && $0.split(separator: "/").count == 2) }
    }

    /// Whether `path` is a Lightbox bundle: a folder with its manifest, or a zip of one.
    public static func isBundle(_ path: String) -> Bool {
        FileManager.default.fileExists(atPath: (path as NSString).appendingPathComponent(manifestName)) || isArchive(path)
    }

    /// Reads a bundle folder, or a zip of one (unpacked, within `maxUnpackedBytes`, into a
    /// private temporary folder that lives as long as the bundle value).
    public static func read(from path: String) throws -> ModelBundle {
        guard isArchive(path) else { return try read(folder: path) }
        let unpacked = try UnpackedArchive(path, limit: maxUnpackedBytes)
        let candidates = [unpacked.url] + ((try? FileManager.default.contentsOfDirectory(at: unpacked.url, includingPropertiesForKeys: nil)) ?? [])
        guard let root = candidates.first(where: { FileManager.default.fileExists(atPath: $0.appendingPathComponent(manifestName).path) }) else {
            throw WeightsError("\(path): the zip holds no Lightbox model (\(manifestName))")
        }
        do {
            var bundle = try read(folder: root.path)
            bundle.unpacked = unpacked
            return bundle
        } catch let error as WeightsError {
            // Name the zip the user gave, not the temporary folder.
            throw WeightsError(error.description.replacingOccurrences(of: root.path, with: path + "!"))
        }
    }

    static func read(folder directory: String) throws -> ModelBundle {
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
        // Checked here, before any command prints a line: an unknown value would otherwise surface
        // only when pictures are preprocessed (and `stepsOutsideExport` would misname it).
        guard manifest.preprocessing.equalization != nil else {
            throw WeightsError("\(manifestPath): preprocessing equalize '\(manifest.preprocessing.equalize ?? "")' is not none, clahe or histogram")
        }
        var bundle: ModelBundle
        if let s = manifest.head {
            let store = try tensors(in: directory, file: s.weights, what: "head weights")
            let head: DenseHead
            do {
                head = try DenseHead(inputs: s.inputs, hidden: s.hidden, classes: manifest.classes.count,
                                     w1: store.tensor("dense1.weight", shape: [s.hidden, s.inputs]).values,
                                     b1: store.tensor("dense1.bias", shape: [s.hidden]).values,
                                     w2: store.tensor("dense2.weight", shape: [manifest.classes.count, s.hidden]).values)
            } catch let e as HeadShapeError {
                throw WeightsError("\(directory): \(e)")
            }
            bundle = ModelBundle(classes: manifest.classes, backbone: manifest.backbone, preprocessing: manifest.preprocessing,
                                 head: head, training: manifest.training ?? [:])
        } else if let f = manifest.fineTuning {
            guard !f.members.isEmpty, f.members.count <= 10, (1...18).contains(f.firstModule) else {
                throw WeightsError("\(manifestPath): fine_tuning needs 1-10 members and a first_module of 1-18 (got \(f.members.count) and \(f.firstModule))")
            }
            let members = try f.members.map { try tensors(in: directory, file: $0, what: "fine-tuned weights").tensors }
            bundle = ModelBundle(classes: manifest.classes, backbone: manifest.backbone, preprocessing: manifest.preprocessing,
                                 fineTuned: FineTunedEnsemble(firstModule: f.firstModule, members: members),
                                 training: manifest.training ?? [:])
        } else {
            throw WeightsError("\(manifestPath): the manifest names neither a head nor a fine-tuned ensemble")
        }
        if let point = manifest.operatingPoint {
            guard manifest.classes.count == 2, manifest.classes.contains(point.positiveClass), point.threshold.isFinite,
                  (0...1).contains(point.threshold) else {
                throw WeightsError("\(manifestPath): operating_point needs a two-class model, one of its classes and a threshold in 0...1")
            }
            bundle.operatingPoint = point
        }
        bundle.directory = directory
        return bundle
    }

    /// The tensors of `file` in the bundle `directory`, which must stay inside it.
    static func tensors(in directory: String, file: String, what: String) throws -> NamedTensors {
        guard !file.contains("/"), !file.hasPrefix(".") else { throw WeightsError("\(directory): \(what) file '\(file)' is not in the model folder") }
        let path = (directory as NSString).appendingPathComponent(file)
        guard let data = FileManager.default.contents(atPath: path) else { throw WeightsError("\(path): \(what) missing") }
        return NamedTensors(try SafeTensors.decode(data, source: path).tensors, source: path)
    }
}

/// The trained part of a fine-tuned model: MobileNetV2's modules from `firstModule` on, per
/// member, by torch name (convolution weights, batch-norm weight, bias, running_mean and
/// running_var), with the member's linear head as `head.weight` and `head.bias`.
public struct FineTunedEnsemble: Sendable {
    public var firstModule: Int
    public var members: [[String: Tensor]]

    public init(firstModule: Int, members: [[String: Tensor]]) {
        self.firstModule = firstModule
        self.members = members
    }
}

/// A zip unpacked into a private temporary folder (owner-only), removed on deinit.
final class UnpackedArchive: Sendable {
    let url: URL

    init(_ zip: String, limit: Int) throws {
        url = FileManager.default.temporaryDirectory.appendingPathComponent("lightbox-model-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: url, withIntermediateDirectories: true, attributes: [.posixPermissions: 0o700])
        do {
            try BoundedUnzip.extract(zip, to: url, limit: limit)
        } catch {
            try? FileManager.default.removeItem(at: url)
            throw error
        }
    }

    deinit { try? FileManager.default.removeItem(at: url) }
}
