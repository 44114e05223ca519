import Foundation
import LightboxHead
import LightboxCore
import LightboxImaging
import LightboxModels

/// A trained model, self-contained: the backbone's identity and weights digest, the members
/// (one or more `ModelMember`s sharing one frozen part, whose probabilities are averaged), the
/// class names and the preprocessing. `predict` and `evaluate` need nothing else (the backbone
/// weights come from the cache, checked against the digest).
///
/// Layout: `DIR/lightbox-model.json` and `DIR/head.safetensors` (one dense head),
/// `DIR/head-N.safetensors` (an ensemble of dense heads) or `DIR/member-N.safetensors` (an
/// ensemble of fine-tuned members); optionally `DIR/training-digests.txt`, the content digests
/// of the pictures the members trained on (`trainingDigests`).
public struct ModelBundle: Sendable {
    public static let format = "lightbox-model"
    /// 1: a dense head on the frozen backbone; 2 adds fine-tuned ensembles; 3 ensembles of dense
    /// heads; 4 a temperature calibration (`calibration`), which a reader that ignored it would
    /// get wrong (uncalibrated probabilities against a threshold chosen on calibrated ones);
    /// 5 the lungs-only crop (`crop`), which a reader that ignored it would feed whole pictures.
    /// Each bundle is written with the lowest version that describes it (`writtenVersion`), so
    /// one dense head stays readable by Lightbox versions that read 1.
    public static let formatVersion = 5
    /// The version a calibrated bundle needs.
    public static let calibrationFormatVersion = 4
    /// The version a bundle with the lungs-only crop needs.
    public static let cropFormatVersion = 5
    /// A lung locator other than the shipped one, kept in the bundle (`Crop.locatorFile`).
    public static let lungLocatorName = "lung-locator.safetensors"
    /// The version a single dense head is written with.
    public static let headFormatVersion = 1
    public static let manifestName = "lightbox-model.json"
    public static let headName = "head.safetensors"
    /// The training pictures' content digests, one a line (`trainingDigests`).
    public static let trainingDigestsName = "training-digests.txt"
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

    /// In the manifest: `resize` and `equalize` as their raw strings (`equalize` absent when
    /// none), so the JSON is what it was when they were stored as text.
    public struct Preprocessing: Codable, Sendable, Equatable {
        public var size: Int
        public var resize: ResizePolicy
        public var mean: [Float]
        public var std: [Float]
        /// Contrast equalisation after resizing (`clahe`, `histogram`); absent from the manifest: none.
        public var equalize: Equalization
        /// How DICOM pictures were brought onto 0-255 in training; absent (bundles written before
        /// it was recorded): `first`, the only window those could have been trained with by default.
        public var dicomWindow: DICOMWindow?

        enum CodingKeys: String, CodingKey { case size, resize, mean, std, equalize, dicomWindow = "dicom_window" }

        /// A manifest value that is not one of its option's values (`ModelBundle.read` names the
        /// manifest file in the error it becomes).
        struct InvalidValue: Error {
            var key: String, value: String, allowed: String
        }

        public init(_ p: Preprocessor, dicomWindow: DICOMWindow = .first) {
            size = p.size
            resize = p.policy
            mean = p.normalization.mean
            std = p.normalization.std
            equalize = p.equalization
            self.dicomWindow = dicomWindow
        }

        public init(from decoder: any Decoder) throws {
            let c = try decoder.container(keyedBy: CodingKeys.self)
            size = try c.decode(Int.self, forKey: .size)
            let resizeText = try c.decode(String.self, forKey: .resize)
            guard let resize = ResizePolicy(rawValue: resizeText) else {
                throw InvalidValue(key: "resize", value: resizeText, allowed: "crop, pad or stretch")
            }
            self.resize = resize
            mean = try c.decode([Float].self, forKey: .mean)
            std = try c.decode([Float].self, forKey: .std)
            let equalizeText = try c.decodeIfPresent(String.self, forKey: .equalize) ?? Equalization.none.rawValue
            guard let equalize = Equalization(rawValue: equalizeText) else {
                throw InvalidValue(key: "equalize", value: equalizeText, allowed: "none, clahe or histogram")
            }
            self.equalize = equalize
            dicomWindow = try c.decodeIfPresent(DICOMWindow.self, forKey: .dicomWindow)
        }

        public func encode(to encoder: any Encoder) throws {
            var c = encoder.container(keyedBy: CodingKeys.self)
            try c.encode(size, forKey: .size)
            try c.encode(resize.rawValue, forKey: .resize)
            try c.encode(mean, forKey: .mean)
            try c.encode(std, forKey: .std)
            if equalize != .none { try c.encode(equalize.rawValue, forKey: .equalize) }
            try c.encodeIfPresent(dicomWindow, forKey: .dicomWindow)
        }

        /// The DICOM window the model expects.
        public var window: DICOMWindow { dicomWindow ?? .first }

        /// A decoder that windows DICOM pictures as the model expects (and refuses pictures over `maxPixels`).
        public func decoder(maxPixels: Int) -> ImageDecoder { ImageDecoder(maxPixels: maxPixels, dicomWindow: window) }

        public func preprocessor() throws -> Preprocessor {
            guard mean.count == 3, std.count == 3, size > 0 else {
                throw WeightsError("model preprocessing is invalid (resize '\(resize.rawValue)', size \(size))")
            }
            return Preprocessor(size: size, policy: resize, normalization: ChannelNormalization(mean: mean, std: std),
                                equalization: equalize)
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
        var calibration: Calibration?
        var trainingDigests: String?
        var crop: CropRecord?
        var created: String?
        var training: [String: String]?
        var disclaimer: String?

        enum CodingKeys: String, CodingKey {
            case format, formatVersion = "format_version", classes, backbone, preprocessing, head, fineTuning = "fine_tuning",
                 operatingPoint = "operating_point", calibration, trainingDigests = "training_digests", crop, created, training, disclaimer
        }
    }

    /// The calibration in the manifest: `{"method": "temperature", "temperature": T}` (the method
    /// named, so another kind can be added without a reader mistaking it for this one).
    struct Calibration: Codable {
        var method: String
        var temperature: Double
        static let temperatureMethod = "temperature"
    }

    /// The lungs-only crop in the manifest: `{"kind": "lungs", "margin": 0.05, "locator_sha256":
    /// "...", "locator": "lung-locator.safetensors"}` (`locator` absent: the shipped locator).
    struct CropRecord: Codable {
        var kind: String
        var margin: Double
        var locatorSHA256: String
        var locator: String?
        enum CodingKeys: String, CodingKey { case kind, margin, locatorSHA256 = "locator_sha256", locator }
    }

    /// The pictures were cropped to their lungs before the resize (`lightbox train --crop lungs`):
    /// each one's box from the lung locator whose file has `locatorSHA256`, grown by `margin` of
    /// its size on every side. `locatorFile`: that locator's bytes when it is not the one shipped
    /// with Lightbox (written into the bundle, checked by digest when read).
    public struct Crop: Sendable, Equatable {
        public var margin: Double
        public var locatorSHA256: String
        public var locatorFile: Data?
        public init(margin: Double, locatorSHA256: String, locatorFile: Data?) {
            self.margin = margin
            self.locatorSHA256 = locatorSHA256
            self.locatorFile = locatorFile
        }
    }

    /// The margins a bundle's crop may have.
    public static let cropMarginRange: ClosedRange<Double> = 0...0.5

    /// A fine-tuned ensemble in the manifest: where the trained modules start, each member's file.
    struct FineTuning: Codable {
        var firstModule: Int
        var members: [String]
        enum CodingKeys: String, CodingKey { case firstModule = "first_module", members }
    }

    /// Dense heads in the manifest: their shape, and each member's file (`weights` alone: one head).
    struct HeadShape: Codable {
        var inputs: Int, hidden: Int, activation: String, output: String, outputBias: Bool, weights: String
        var members: [String]?
        enum CodingKeys: String, CodingKey {
            case inputs, hidden, activation, output, outputBias = "output_bias", weights, members
        }
    }

    public var classes: [String]
    public var backbone: Backbone
    public var preprocessing: Preprocessing
    /// The trained members (at least one), all on the same frozen part; their probabilities are averaged.
    public private(set) var members: [any ModelMember]
    /// A two-class model's decision threshold (chosen on the validation split); nil: argmax.
    public var operatingPoint: OperatingPoint?
    /// The temperature scaling of the members' mean probabilities (fitted on out-of-fold
    /// predictions); nil: none, the mean probabilities as they are. Everything that shows or
    /// exports the model's probabilities applies it (`TrainedModel`, the exports).
    public var calibration: TemperatureScaling?
    /// The temperatures a bundle may hold: a fitted one is in `TemperatureScaling.fittedRange`;
    /// beyond these, a probability would be all but a class's name (or all but uniform).
    public static let temperatureRange: ClosedRange<Double> = 0.01...100
    /// The SHA-256 content digests (`ContentDigests`, lowercase hex) of the pictures the members
    /// trained on, sorted, for `lightbox evaluate` to tell pictures the model has seen from new
    /// ones; nil: not recorded (bundles written before it was, Teachable Machine's).
    public var trainingDigests: [String]?
    /// The lungs-only crop the model's pictures get before the resize; nil: whole pictures
    /// (every bundle written before the crop existed).
    public var crop: Crop?
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

    public init(classes: [String], backbone: Backbone, preprocessing: Preprocessing, members: [any ModelMember],
                training: [String: String] = [:]) throws {
        guard let first = members.first else { throw WeightsError("a model needs at least one member") }
        guard members.allSatisfy({ $0.cut == first.cut && $0.classes == classes.count }) else {
            throw WeightsError("a model's members must share one frozen part and have \(classes.count) classes")
        }
        self.classes = classes
        self.backbone = backbone
        self.preprocessing = preprocessing
        self.members = members
        self.training = training
    }

    /// Where the frozen part the members share ends.
    public var cut: FrozenCut { members[0].cut }

    /// The format version this bundle is written with: the lowest that describes its members
    /// and its calibration.
    public var writtenVersion: Int {
        if crop != nil { return Self.cropFormatVersion }
        if calibration != nil { return Self.calibrationFormatVersion }
        if members is [FineTunedMember] { return 2 }
        return members.count == 1 ? Self.headFormatVersion : 3
    }

    /// What an exported model cannot do itself and its user must do before it (the bundle's
    /// contrast equalisation), in words; nil when the export is complete. Exports record it in
    /// their metadata and `lightbox export` prints it.
    public var stepsOutsideExport: String? {
        let e = preprocessing.equalize
        guard e != .none else { return nil }
        let how = e == .clahe ? "cv2.createCLAHE(clipLimit=2.0, tileGridSize=(8, 8)).apply(gray)" : "cv2.equalizeHist(gray)"
        return "the model was trained on contrast-equalised pictures (\(e.rawValue)), which this export cannot do: after resizing to \(preprocessing.size)x\(preprocessing.size), round the grey levels to 8 bits and apply \(how), then use the result for all three channels"
    }

    /// Refuses to export a model that expects pictures cropped to their lungs: no export can
    /// locate the lungs and crop, and whole pictures would silently get other answers.
    public func checkExportable(model: String) throws {
        guard crop == nil else {
            throw WeightsError("\(model): the model expects each picture cropped to its lungs (lightbox train --crop lungs), which exports cannot do; nothing was exported (use lightbox predict, or train without --crop to export)")
        }
    }

    /// The calibration as the exports record it in their metadata, beside the operating point:
    /// `{"method": "temperature", "temperature": T, "in_graph": B}`, `in_graph` saying whether
    /// the exported model applies it itself (ONNX) or its user must, as `softmax(log(p) / T)`
    /// on its output (TF.js, Keras); nil without a calibration.
    public func calibrationMetadata(inGraph: Bool) -> [String: Any]? {
        calibration.map { ["method": Calibration.temperatureMethod, "temperature": $0.temperature, "in_graph": inGraph] }
    }

    /// `calibrationMetadata` as JSON text (sorted keys), for formats whose metadata is text.
    public func calibrationMetadataJSON(inGraph: Bool) throws -> String? {
        try calibrationMetadata(inGraph: inGraph).map { String(decoding: try JSONSerialization.data(withJSONObject: $0, options: [.sortedKeys]), as: UTF8.self) }
    }

    /// Applies the DICOM window a command was asked for (`requested`, nil: not asked) to a model
    /// trained with another: refused with both named, unless `override` (then used, with a
    /// warning through `DecodingWarnings`). Without a request the model's own window is used.
    public mutating func apply(dicomWindow requested: DICOMWindow?, override: Bool, model: String) throws {
        guard let requested, requested != preprocessing.window else { return }
        let recorded = preprocessing.window.rawValue
        guard override else {
            throw WeightsError("\(model): --dicom-window \(requested.rawValue) differs from the window the model was trained with (\(recorded)); leave --dicom-window out to use the model's, or add --dicom-window-override to use \(requested.rawValue) anyway")
        }
        DecodingWarnings.report("warning: DICOM pictures are windowed with \(requested.rawValue) (--dicom-window-override), but \(model) was trained with \(recorded): its predictions on them may be wrong")
        preprocessing.dicomWindow = requested
    }

    /// Writes the bundle to `directory` atomically: built in a temporary folder beside it,
    /// then swapped in with one rename, so readers never see half a model.
    public func write(to directory: String) throws {
        var files: [String: Data] = [:]
        var headShape: HeadShape?, fineTuning: FineTuning?
        func save(_ member: any ModelMember, as name: String) throws {
            files[name] = try SafeTensors.encode(member.tensors, metadata: ["format": Self.format])
        }
        if let heads = members as? [DenseHeadMember] {
            let names = heads.count == 1 ? [Self.headName] : heads.indices.map { "head-\($0).safetensors" }
            headShape = HeadShape(inputs: heads[0].dense.inputs, hidden: heads[0].dense.hidden, activation: "relu", output: "softmax",
                                  outputBias: false, weights: names[0], members: heads.count == 1 ? nil : names)
            for (name, head) in zip(names, heads) { try save(head, as: name) }
        } else if let tuned = members as? [FineTunedMember] {
            let names = tuned.indices.map { "member-\($0).safetensors" }
            fineTuning = FineTuning(firstModule: tuned[0].firstModule, members: names)
            for (name, member) in zip(names, tuned) { try save(member, as: name) }
        } else {
            throw WeightsError("a model's members must all be dense heads or all fine-tuned")
        }
        if let calibration {
            try Self.check(calibration, source: "the model's calibration")
        }
        if let trainingDigests {
            try Self.check(digests: trainingDigests, source: "the model's training digests")
            files[Self.trainingDigestsName] = Data(Set(trainingDigests).sorted().map { $0 + "\n" }.joined().utf8)
        }
        var cropRecord: CropRecord?
        if let crop {
            try Self.check(crop, source: "the model's crop")
            cropRecord = CropRecord(kind: PictureCrop.lungs.rawValue, margin: crop.margin, locatorSHA256: crop.locatorSHA256,
                                    locator: crop.locatorFile == nil ? nil : Self.lungLocatorName)
            if let file = crop.locatorFile { files[Self.lungLocatorName] = file }
        }
        let manifest = Manifest(format: Self.format, formatVersion: writtenVersion, classes: classes, backbone: backbone,
                                preprocessing: preprocessing, head: headShape, fineTuning: fineTuning,
                                operatingPoint: operatingPoint,
                                calibration: calibration.map { Calibration(method: Calibration.temperatureMethod, temperature: $0.temperature) },
                                trainingDigests: trainingDigests == nil ? nil : Self.trainingDigestsName, crop: cropRecord,
                                created: ISO8601DateFormatter().string(from: Date()), training: training, disclaimer: Self.disclaimer)
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
        var status = stat()
        guard lstat(manifestPath, &status) == 0 else {
            throw WeightsError("\(directory): not a Lightbox model (no \(manifestName))")
        }
        let data = try file(manifestName, in: directory)
        let manifest: Manifest
        do {
            manifest = try JSONDecoder().decode(Manifest.self, from: data)
        } catch let bad as Preprocessing.InvalidValue {
            // Refused here, before any command prints a line, naming the manifest and the value.
            throw WeightsError("\(manifestPath): preprocessing \(bad.key) '\(bad.value)' is not \(bad.allowed)")
        } catch DecodingError.dataCorrupted {
            // The parser's message quotes the character it stopped at: a file's bytes stay out of errors.
            throw WeightsError("\(manifestPath): unreadable model manifest (not valid JSON)")
        } catch {
            throw WeightsError("\(manifestPath): unreadable model manifest (\(error))")
        }
        guard manifest.format == format else { throw WeightsError("\(manifestPath): format '\(manifest.format)' is not \(format)") }
        guard manifest.formatVersion <= formatVersion else {
            throw WeightsError("\(manifestPath): format version \(manifest.formatVersion) is newer than this Lightbox reads (\(formatVersion)); upgrade Lightbox")
        }
        guard manifest.classes.count >= 2 else { throw WeightsError("\(manifestPath): a model needs at least two classes") }
        var members: [any ModelMember]
        if let s = manifest.head {
            let files = s.members ?? [s.weights]
            guard s.members == nil || manifest.formatVersion >= 3 else {
                throw WeightsError("\(manifestPath): head.members (an ensemble of heads) needs format version 3 or later (the manifest says \(manifest.formatVersion))")
            }
            guard (1...64).contains(files.count) else {
                throw WeightsError("\(manifestPath): head needs 1-64 member files (got \(files.count))")
            }
            members = try files.map { file in
                try DenseHeadMember(store: try tensors(in: directory, file: file, what: "head weights"), inputs: s.inputs,
                                    hidden: s.hidden, classes: manifest.classes.count)
            }
        } else if let f = manifest.fineTuning {
            let modules = MobileNetV2Architecture.standard.moduleNumbers
            guard !f.members.isEmpty, f.members.count <= 64, (try? MobileNetV2Architecture.standard.cut(firstTrained: f.firstModule)) != nil else {
                throw WeightsError("\(manifestPath): fine_tuning needs 1-64 members and a first_module of 1-\(modules.upperBound) (got \(f.members.count) and \(f.firstModule))")
            }
            members = try f.members.map { file in
                try FineTunedMember(store: try tensors(in: directory, file: file, what: "fine-tuned weights"), firstModule: f.firstModule,
                                    classes: manifest.classes.count)
            }
        } else {
            throw WeightsError("\(manifestPath): the manifest names neither a head nor a fine-tuned ensemble")
        }
        var bundle = try ModelBundle(classes: manifest.classes, backbone: manifest.backbone, preprocessing: manifest.preprocessing,
                                     members: members, training: manifest.training ?? [:])
        if let point = manifest.operatingPoint {
            guard manifest.classes.count == 2, manifest.classes.contains(point.positiveClass), point.threshold.isFinite,
                  (0...1).contains(point.threshold) else {
                throw WeightsError("\(manifestPath): operating_point needs a two-class model, one of its classes and a threshold in 0...1")
            }
            bundle.operatingPoint = point
        }
        if let c = manifest.calibration {
            guard manifest.formatVersion >= calibrationFormatVersion else {
                throw WeightsError("\(manifestPath): calibration needs format version \(calibrationFormatVersion) or later (the manifest says \(manifest.formatVersion))")
            }
            guard c.method == Calibration.temperatureMethod else {
                throw WeightsError("\(manifestPath): calibration method '\(c.method)' is not one this Lightbox reads (\(Calibration.temperatureMethod))")
            }
            let scaling = TemperatureScaling(temperature: c.temperature)
            try check(scaling, source: manifestPath)
            bundle.calibration = scaling
        }
        if let file = manifest.trainingDigests {
            bundle.trainingDigests = try digests(in: directory, file: file)
        }
        if let c = manifest.crop {
            bundle.crop = try crop(c, version: manifest.formatVersion, directory: directory, manifestPath: manifestPath)
        }
        bundle.directory = directory
        return bundle
    }

    /// The manifest's crop record, checked: its version, kind, margin and locator (the shipped
    /// one, or the bundle's file with the recorded digest); anything else is one error naming
    /// the manifest or the file.
    static func crop(_ c: CropRecord, version: Int, directory: String, manifestPath: String) throws -> Crop {
        guard version >= cropFormatVersion else {
            throw WeightsError("\(manifestPath): crop needs format version \(cropFormatVersion) or later (the manifest says \(version))")
        }
        guard c.kind == PictureCrop.lungs.rawValue else {
            throw WeightsError("\(manifestPath): crop kind '\(c.kind.prefix(40))' is not one this Lightbox reads (lungs)")
        }
        var crop = Crop(margin: c.margin, locatorSHA256: c.locatorSHA256, locatorFile: nil)
        try check(crop, source: manifestPath)
        guard let name = c.locator else {
            guard c.locatorSHA256 == LungLocator.shippedSHA256 else {
                throw WeightsError("\(manifestPath): the pictures were cropped with a lung locator (SHA-256 \(c.locatorSHA256.prefix(16))...) that is neither the one shipped with this Lightbox nor in the model folder")
            }
            return crop
        }
        guard name == lungLocatorName else {
            throw WeightsError("\(manifestPath): crop locator '\(name.prefix(80))' is not \(lungLocatorName) in the model folder")
        }
        let path = (directory as NSString).appendingPathComponent(name)
        let data = try file(name, in: directory, what: "lung locator")
        guard SHA256.hex(data) == c.locatorSHA256 else {
            throw WeightsError("\(path): the lung locator's SHA-256 is not the one the manifest records: the file was changed or damaged")
        }
        _ = try LungLocator.decode(data, source: path)
        crop.locatorFile = data
        return crop
    }

    /// Refuses a crop whose margin is outside `cropMarginRange` or whose digest is not one, naming `source`.
    static func check(_ crop: Crop, source: String) throws {
        guard crop.margin.isFinite, cropMarginRange.contains(crop.margin) else {
            throw WeightsError("\(source): crop margin \(crop.margin) is not a number from \(cropMarginRange.lowerBound) to \(cropMarginRange.upperBound)")
        }
        guard isDigest(crop.locatorSHA256) else {
            throw WeightsError("\(source): crop locator_sha256 is not a SHA-256 digest (64 lowercase hex characters)")
        }
    }

    /// Refuses a temperature that is not finite or outside `temperatureRange`, naming `source`.
    static func check(_ calibration: TemperatureScaling, source: String) throws {
        let t = calibration.temperature
        guard t.isFinite, temperatureRange.contains(t) else {
            throw WeightsError("\(source): calibration temperature \(t) is not a finite number from \(temperatureRange.lowerBound) to \(temperatureRange.upperBound)")
        }
    }

    /// Refuses anything but lowercase hex SHA-256 digests, naming `source` and the first bad
    /// `unit` (a file's line, or a list's entry). A list's entry is quoted; a file's line is not
    /// (no error quotes a file's bytes).
    static func check(digests: [String], source: String, unit: String = "entry") throws {
        for (i, d) in digests.enumerated() where !isDigest(d) {
            let quoted = unit == "entry" ? " ('\(d.prefix(80))')" : ""
            throw WeightsError("\(source): \(unit) \(i + 1)\(quoted) is not a SHA-256 digest (64 lowercase hex characters)")
        }
    }

    static func isDigest(_ s: String) -> Bool {
        s.utf8.count == 64 && s.utf8.allSatisfy { (48...57).contains($0) || (97...102).contains($0) }
    }

    /// The training digests in `file` of the bundle `directory` (inside it), one a line, sorted.
    static func digests(in directory: String, file: String) throws -> [String] {
        guard !file.contains("/"), !file.hasPrefix("."), !file.isEmpty else {
            throw WeightsError("\(directory): training digests file '\(file)' is not in the model folder")
        }
        let path = (directory as NSString).appendingPathComponent(file)
        let data = try self.file(file, in: directory, what: "training digests")
        guard let text = String(data: data, encoding: .utf8) else { throw WeightsError("\(path): training digests are not UTF-8 text") }
        var lines = text.split(separator: "\n", omittingEmptySubsequences: false).map(String.init)
        if lines.last == "" { lines.removeLast() }
        try check(digests: lines, source: path, unit: "line")
        return Set(lines).sorted()
    }

    /// The tensors of `file` in the bundle `directory`, which must stay inside it.
    static func tensors(in directory: String, file: String, what: String) throws -> NamedTensors {
        guard !file.contains("/"), !file.hasPrefix(".") else { throw WeightsError("\(directory): \(what) file '\(file)' is not in the model folder") }
        let path = (directory as NSString).appendingPathComponent(file)
        let data = try self.file(file, in: directory, what: what)
        return NamedTensors(try SafeTensors.decode(data, source: path).tensors, source: path)
    }

    /// The bytes of `name` in the bundle `directory`: a regular file of at most `maxUnpackedBytes`
    /// that stays inside the folder, links resolved (`ContainedFile`); `what` names it when missing.
    static func file(_ name: String, in directory: String, what: String? = nil) throws -> Data {
        let path = (directory as NSString).appendingPathComponent(name)
        var status = stat()
        if let what, lstat(path, &status) != 0 { throw WeightsError("\(path): \(what) missing") }
        do {
            return try ContainedFile.read(name, in: directory, maxBytes: maxUnpackedBytes)
        } catch let refusal as ContainedFile.Refusal {
            throw WeightsError("\(path): \(refusal)")
        }
    }
}

/// A zip unpacked into a private temporary folder (owner-only), removed on deinit.
final class UnpackedArchive: Sendable {
    let url: URL

    init(_ zip: String, limit: Int) throws {
        url = try BoundedUnzip.extractToTemporaryFolder(zip, limit: limit)
    }

    deinit { try? FileManager.default.removeItem(at: url) }
}
