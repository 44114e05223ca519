import Foundation
import LightboxCore
import LightboxData
import LightboxEmbedding
import LightboxHead
import LightboxImaging
import LightboxInterop
import LightboxModels

/// `lightbox evaluate`: a trained model on every usable image of a data set. When the bundle
/// records the pictures its members trained on (`ModelBundle.trainingDigests`), those among the
/// evaluated ones are found by content digest and left out of the headline metrics: a model
/// scored on pictures it trained on looks better than it is on new patients.
public enum EvaluationRun {
    /// The evaluated pictures the model trained on (`overlap` in metrics.json).
    public struct TrainingOverlap: Codable, Sendable, Equatable {
        /// Evaluated pictures whose content digest is among the model's training pictures'.
        public var nImages: Int
        /// Their patients (groups), as the evaluated data set names them.
        public var nPatients: Int
        /// Other evaluated pictures of those patients: not trained on themselves, but the model
        /// has seen their patient (counted in the headline metrics, which only pictures decide).
        public var otherImagesOfThosePatients: Int

        enum CodingKeys: String, CodingKey {
            case nImages = "n_images", nPatients = "n_patients", otherImagesOfThosePatients = "other_images_of_those_patients"
        }
    }

    /// What an evaluation found: the headline metrics (the pictures the model did not train on,
    /// when it records its training pictures), and with an overlap the metrics over every
    /// picture and the overlap's counts.
    public struct Outcome: Sendable {
        public var metrics: ClassificationMetrics
        /// Every evaluated picture's metrics, when some were training pictures (`all_pictures`).
        public var allPictures: ClassificationMetrics?
        /// nil: the model records no training pictures, so none could be recognised.
        public var overlap: TrainingOverlap?
    }

    /// metrics.json of an evaluation: the run document (the headline metrics at the top level),
    /// then `all_pictures` and `overlap` when the model's training pictures were looked for.
    struct Document: Encodable {
        var run: RunDocument
        var allPictures: ClassificationMetrics?
        var overlap: TrainingOverlap?
        enum Keys: String, CodingKey { case allPictures = "all_pictures", overlap }

        func encode(to encoder: Encoder) throws {
            try run.encode(to: encoder)
            var c = encoder.container(keyedBy: Keys.self)
            try c.encodeIfPresent(allPictures, forKey: .allPictures)
            try c.encodeIfPresent(overlap, forKey: .overlap)
        }

        func json() throws -> Data {
            let encoder = JSONEncoder()
            encoder.outputFormatting = [.prettyPrinted, .sortedKeys]
            return try encoder.encode(self)
        }
    }

    public struct Request: Sendable {
        public var model: String
        public var data: DataSelection
        public var positiveClass: String?
        /// Where metrics.json goes; predictions go beside it (`NAME-predictions.csv`).
        public var output: String
        public var useCache = true
        /// The embedding cache's folder (where sharded work left the embeddings); nil: the default.
        public var cacheDirectory: String?
        public var seed: UInt64 = 42
        /// A DICOM window asked for (nil: the model's own) and whether it may differ from the model's.
        public var dicomWindow: DICOMWindow?
        public var overrideDICOMWindow = false
        /// The run context: cache folders, pixel limit, threads.
        public var settings: LightboxSettings
        /// Runs the model's work per picture (its `CachedPass`) over shards, here or on Slurm, into
        /// a cache folder and returns that folder, which the evaluation then reads (`--shards`,
        /// `--executor`). Given the model already built and the data set's paths, so neither is
        /// made twice.
        public var shards: (@Sendable (_ model: TrainedModel, _ pass: CachedPass, _ paths: [String]) throws -> String)?

        public init(model: String, data: DataSelection, output: String, settings: LightboxSettings) {
            self.model = model
            self.data = data
            self.output = output
            self.settings = settings
        }
    }

    public static func run(_ request: Request, reporter: Reporter = SilentReporter()) throws -> Outcome {
        var bundle = try ModelBundle.read(from: request.model)
        try bundle.apply(dicomWindow: request.dicomWindow, override: request.overrideDICOMWindow, model: request.model)
        let (dataset, digests) = try labeledData(request.data, classes: bundle.classes, settings: request.settings, reporter: reporter)

        let model = try TrainedModel(bundle: bundle, settings: request.settings)
        let pass = model.cachedPass(baseWeightsSHA256: bundle.backbone.weightsSHA256)
        var cacheDirectory = request.cacheDirectory
        if let shards = request.shards { cacheDirectory = try shards(model, pass, dataset.images.map(\.path)) }
        let (images, probabilities, failures) = try classify(dataset.images, digests: digests, model: model, pass: pass,
                                                             useCache: request.useCache, cacheDirectory: cacheDirectory,
                                                             settings: request.settings, reporter: reporter)
        for f in failures { reporter.note("skipped \(dataset.names.describe(f))") }
        guard !images.isEmpty else { throw DatasetError("\(request.data.path): no usable images for the model's classes \(bundle.classes)") }

        let positive = try TrainingRun.positiveIndex(bundle.classes, requested: request.positiveClass)
        let k = bundle.classes.count
        /// The metrics of the images at `rows`.
        func metrics(_ rows: [Int]) -> ClassificationMetrics {
            ClassificationMetrics(classes: bundle.classes, labels: rows.map { bundle.classes.firstIndex(of: images[$0].label)! },
                                  probabilities: rows.flatMap { probabilities[($0 * k)..<(($0 + 1) * k)] }, groups: rows.map { images[$0].group },
                                  positive: positive, decision: bundle.decisionRule, seed: request.seed)
        }
        let everyRow = Array(images.indices)
        var outcome = Outcome(metrics: metrics(everyRow), allPictures: nil, overlap: nil)
        if let trained = bundle.trainingDigests {
            let (overlap, unseen) = Self.overlap(images, digests: digests, trainingDigests: Set(trained))
            outcome.overlap = overlap
            if overlap.nImages == images.count {
                // No picture left for an honest headline: refused, rather than a figure of how
                // well the model fits its own training pictures read as how it does on new patients.
                throw DatasetError("\(request.data.path): all \(images.count) evaluated pictures (\(overlap.nPatients) patients) were used to train \(request.model): metrics on them would show how well it fits its training pictures, not how it does on new patients; evaluate it on pictures it did not train on (its run's metrics.json has its figures on patients it did not see)")
            }
            if overlap.nImages > 0 {
                var line = "warning: \(overlap.nImages) of \(images.count) evaluated pictures (\(overlap.nPatients) patients) were used to train this model; the headline metrics below are on the other \(images.count - overlap.nImages) pictures"
                if overlap.otherImagesOfThosePatients > 0 {
                    line += " (\(overlap.otherImagesOfThosePatients) of which are of those patients, whom the model has seen)"
                }
                reporter.note(line)
                outcome.allPictures = outcome.metrics
                outcome.metrics = metrics(unseen)
            }
        }
        var run = RunDocument(metrics: outcome.metrics, epochs: nil, validationLoss: nil, validationAccuracy: nil, split: nil,
                              skipped: dataset.skipped.count + failures.count, seconds: nil)
        run.arithmetic = request.settings.arithmetic
        let document = Document(run: run,
                                allPictures: outcome.allPictures, overlap: outcome.overlap)
        try AtomicFile.write(try document.json(), to: request.output)
        try AtomicFile.write(Data(Predictions.csv(images: images, names: dataset.names, classes: bundle.classes,
                                                  probabilities: probabilities, decision: bundle.decisionRule).utf8),
                             to: Self.predictionsPath(for: request.output))
        // Groups from DICOM patient ids are pseudonyms: their salt goes beside the metrics.
        let folder = (request.output as NSString).deletingLastPathComponent
        try dataset.pseudonyms?.write(into: folder.isEmpty ? "." : folder)
        return outcome
    }

    /// Where the per-picture predictions go beside the metrics at `output`: NAME-predictions.csv.
    public static func predictionsPath(for output: String) -> String {
        (output as NSString).deletingPathExtension + "-predictions.csv"
    }

    /// Which of `images` the model trained on (their content digest among `trainingDigests`),
    /// counted with their patients, and the rows of the others, in order.
    static func overlap(_ images: [LabeledImage], digests: [String: Result<String, ImageDecodingError>],
                        trainingDigests: Set<String>) -> (TrainingOverlap, unseen: [Int]) {
        var seen: [Int] = [], unseen: [Int] = []
        for (i, image) in images.enumerated() {
            if case .success(let digest)? = digests[image.path], trainingDigests.contains(digest) { seen.append(i) } else { unseen.append(i) }
        }
        let patients = Set(seen.map { images[$0].group })
        let others = unseen.filter { patients.contains(images[$0].group) }.count
        return (TrainingOverlap(nImages: seen.count, nPatients: patients.count, otherImagesOfThosePatients: others), unseen)
    }

    /// The data set's images whose labels are among the model's `classes`, named as the
    /// selection asks (`PictureNames`), repeated pictures removed, and every file's content digest.
    public static func labeledData(_ data: DataSelection, classes: [String], settings: LightboxSettings,
                            reporter: Reporter) throws -> (Dataset, [String: Result<String, ImageDecodingError>]) {
        var dataset = try data.load(saltFolder: settings.home)
        let known = Set(classes)
        dataset = dataset.removing { image in
            known.contains(image.label) ? nil : "label '\(image.label)' is not one of the model's classes \(classes)"
        }
        let digests = ContentDigests.compute(dataset.images.map(\.path), threads: settings.threads)
        dataset = DuplicateFilter.apply(dataset.identified(by: data.identity, digests: digests, threads: settings.threads), digests: digests)
        reporter.note("data: \(dataset.source): \(dataset.images.count) images, \(dataset.skipped.count) skipped")
        return (dataset, digests)
    }

    /// The images that decode and their class probabilities. With the cache: the whole
    /// backbone's embeddings (cached, shared with training) through the members when they read
    /// only those (`TrainedModel.cachedBackbone`), else the ensemble's probabilities cached in
    /// `cacheDirectory` (where sharded work left them); without it, the model on the files.
    static func classify(_ dataset: [LabeledImage], digests: [String: Result<String, ImageDecodingError>], model: TrainedModel,
                         pass: CachedPass, useCache: Bool, cacheDirectory: String? = nil, settings: LightboxSettings,
                         reporter: Reporter) throws -> (images: [LabeledImage], probabilities: [Float], failures: [ImageDecodingError]) {
        let embedder: SampleEmbedder, batchSize: Int, what: String
        if useCache, pass.output == .backboneEmbedding {
            embedder = pass.sampleEmbedder(directory: cacheDirectory ?? settings.folder("embeddings"))
            (batchSize, what) = (32, "embedding images")
        } else if useCache, let cacheDirectory {
            // An ensemble's probabilities are cached only where sharded work left them.
            embedder = pass.sampleEmbedder(directory: cacheDirectory)
            (batchSize, what) = (16, "classifying images")
        } else {
            let result = try model.predict(paths: dataset.map(\.path), progress: { reporter.progress("classifying images", done: $0, total: $1) })
            let byPath = Dictionary(dataset.map { ($0.path, $0) }, uniquingKeysWith: { a, _ in a })
            return (result.paths.map { byPath[$0]! }, result.probabilities, result.failures)
        }
        let samples = dataset.map { TrainingSample(image: $0) }
        let outcome = try embedder.embed(samples, digests: digests, batchSize: batchSize) {
            reporter.progress(what, done: $0, total: $1)
        }
        var images: [LabeledImage] = [], rows: [Float] = []
        for (image, row) in zip(dataset, outcome.embeddings) {
            if let row { images.append(image); rows += row }
        }
        return (images, images.isEmpty ? [] : try pass.probabilities(rows, count: images.count), outcome.failures)
    }
}
