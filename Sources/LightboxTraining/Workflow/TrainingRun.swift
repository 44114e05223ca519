import Foundation
import LightboxCore
import LightboxData
import LightboxImaging
import LightboxModels

/// Everything `lightbox train` is asked to do.
public struct TrainingConfiguration: Sendable {
    public var data: String
    public var source: SourceKind?
    public var covid = CovidChestXraySource.Options()
    public var split: SplitFractions
    public var balance: BalancePolicy = .none
    public var augmentCopies = 0
    public var augmentation = AugmentationRanges()
    public var training = TrainingOptions()
    public var resize: ResizePolicy = .crop
    /// The class whose probability is the ROC score (two classes); default COVID-19 when present.
    public var positiveClass: String?
    public var output: String
    public var useCache = true
    /// A Teachable Machine export whose MobileNet to use instead of the default backbone.
    public var teachableMachineBackbone: String?
    /// Misclassified test images shown with heatmaps in the report.
    public var heatmapExamples = 8

    public init(data: String, output: String) throws {
        self.data = data
        self.output = output
        split = try SplitFractions()
    }
}

/// What a finished run produced.
public struct TrainingSummary: Sendable {
    public var runDirectory: String
    public var modelDirectory: String
    public var reportPath: String
    public var metrics: ClassificationMetrics
    public var validationAccuracy: Double?
}

/// `lightbox train`: data set -> patient-level split -> embeddings (cached) -> head ->
/// evaluation on the held-out test patients -> run directory with metrics, predictions,
/// report and model bundle.
///
/// Every option is checked against TrainingOptionRules before any work, and the run's size
/// against the budget twice before any augmented copy is drawn: from the data set's class
/// sizes (before an image is read) and from the training split. A reporter that says it is
/// cancelled stops the run between stages, within an embedding batch or after an epoch, with
/// `TrainingCancelled`, before anything is written to the run directory.
public enum TrainingRun {
    public static func run(_ config: TrainingConfiguration, reporter: Reporter = SilentReporter()) throws -> TrainingSummary {
        try TrainingOptionRules.validate(config)
        let started = Date()
        func checkpoint() throws { if reporter.isCancelled { throw TrainingCancelled() } }
        try checkpoint()
        var dataset = try DatasetLoader.load(config.data, kind: config.source, covidOptions: config.covid)
        reporter.note("data: \(dataset.source): \(dataset.images.count) images in \(dataset.classes.count) classes, \(dataset.skipped.count) skipped")
        if !dataset.hasGroups { reporter.note("the source has no patient ids: each image is its own group") }
        try TrainingOptionRules.checkBudget(
            trainImagesPerClass: TrainingOptionRules.expectedTrainImages(perClass: imagesPerClass(dataset.images), split: config.split),
            config: config)
        try checkpoint()

        let digests = ContentDigests.compute(dataset.images.map(\.path))
        dataset = DuplicateFilter.apply(dataset, digests: digests)
        try checkpoint()

        var backboneFiles: [String: Data] = [:]
        let backbone: Backbone
        if let path = config.teachableMachineBackbone {
            (backbone, backboneFiles) = try Backbone.teachableMachine(path, policy: config.resize)
            reporter.note("backbone: the MobileNet of the Teachable Machine export \(path)")
        } else {
            backbone = try Backbone.pretrained(Preprocessor(policy: config.resize))
        }
        let embedder = backbone.sampleEmbedder(cache: config.useCache)
        try checkpoint()

        // Every original image once: this also finds files that do not decode.
        let originals = dataset.images.map { TrainingSample(image: $0) }
        let base = try embedder.embed(originals, digests: digests, checkpoint: checkpoint) {
            reporter.progress("embedding images", done: $0, total: $1)
        }
        var embeddingOf: [String: [Float]] = [:]
        for (sample, e) in zip(originals, base.embeddings) { if let e { embeddingOf[sample.image.path] = e } }
        let unreadable = base.failures.map { SkippedItem(item: $0.path, reason: "unreadable image: \($0.reason)") }
        dataset = Dataset(images: dataset.images.filter { embeddingOf[$0.path] != nil }, skipped: dataset.skipped + unreadable,
                          hasGroups: dataset.hasGroups, source: dataset.source)
        guard dataset.classes.count >= 2 else {
            throw DatasetError("\(config.data): need at least two classes with usable images, found \(dataset.classes)")
        }
        let classes = dataset.classes

        let split = Splitter.split(dataset.images, fractions: config.split, seed: config.training.seed)
        for part in DatasetSplit.Part.allCases {
            let images = split[part]
            let perClass = classes.map { c in "\(c) \(images.filter { $0.label == c }.count)" }.joined(separator: ", ")
            reporter.note("\(part.rawValue): \(images.count) images, \(Set(images.map(\.group)).count) groups (\(perClass))")
        }
        for part in [DatasetSplit.Part.train, .test] {
            for c in classes where !split[part].contains(where: { $0.label == c }) {
                reporter.note("warning: class '\(c)' has no images in the \(part.rawValue) split: too few of its patients to hold some out")
            }
        }
        guard !split.train.isEmpty, !split.test.isEmpty else {
            throw DatasetError("\(config.data): too few groups to hold out a test set (\(Set(dataset.images.map(\.group)).count) groups)")
        }
        // The exact budget, before any augmented copy is drawn (the sample list of an
        // augment-to:N far too large would not fit in memory).
        try TrainingOptionRules.checkBudget(trainImagesPerClass: imagesPerClass(split.train), config: config)
        try checkpoint()

        let (samples, notes) = TrainingSetBuilder.build(train: split.train, balance: config.balance,
                                                        augmentCopies: config.augmentCopies, ranges: config.augmentation,
                                                        seed: config.training.seed)
        notes.forEach { reporter.note("balance: \($0)") }
        let augmented = samples.filter { $0.augmentation != nil }
        let extra = try embedder.embed(augmented, digests: digests, checkpoint: checkpoint) {
            reporter.progress("embedding augmented copies", done: $0, total: $1)
        }
        var augmentedEmbedding: [TrainingSample: [Float]] = [:]
        for (s, e) in zip(augmented, extra.embeddings) { if let e { augmentedEmbedding[s] = e } }
        reporter.note("embeddings: \(base.cacheHits + extra.cacheHits) from cache, \(base.computed + extra.computed) computed")

        func table(_ rows: [(LabeledImage, [Float])]) -> LabeledEmbeddings {
            LabeledEmbeddings(features: rows.flatMap(\.1), labels: rows.map { classes.firstIndex(of: $0.0.label)! },
                              width: backbone.embedder.network.embeddingChannels)
        }
        let trainRows = samples.compactMap { s -> (LabeledImage, [Float])? in
            guard let e = s.augmentation == nil ? embeddingOf[s.image.path] : augmentedEmbedding[s] else { return nil }
            return (s.image, e)
        }
        let trainSet = table(trainRows)
        let validationSet = table(split.validation.map { ($0, embeddingOf[$0.path]!) })
        let testSet = table(split.test.map { ($0, embeddingOf[$0.path]!) })

        let trained = HeadTrainer.train(train: trainSet, validation: validationSet.count > 0 ? validationSet : nil,
                                        classes: classes.count, options: config.training,
                                        shouldStop: { reporter.isCancelled }) {
            reporter.epoch($0, of: config.training.epochs)
        }
        // The last point to stop: from here on the run directory is written.
        try checkpoint()

        let positive = try positiveIndex(classes, requested: config.positiveClass)
        let probabilities = trained.head.predict(testSet.features, rows: testSet.count)
        let metrics = ClassificationMetrics(classes: classes, labels: testSet.labels, probabilities: probabilities,
                                            groups: split.test.map(\.group), positive: positive, seed: config.training.seed)
        let validation = validationSet.count > 0 ? HeadTrainer.evaluate(trained.head, validationSet) : nil

        // The run directory.
        let run = URL(fileURLWithPath: config.output)
        try FileManager.default.createDirectory(at: run, withIntermediateDirectories: true)
        let modelDirectory = run.appendingPathComponent("model").path
        var bundle = ModelBundle(classes: classes, backbone: backbone.identity,
                                 preprocessing: ModelBundle.Preprocessing(backbone.embedder.preprocessor), head: trained.head,
                                 training: ["data": dataset.source, "epochs_run": "\(trained.history.count)",
                                            "kept_epoch": "\(trained.keptEpoch)", "seed": "\(config.training.seed)",
                                            "balance": config.balance.description])
        bundle.backboneFiles = backboneFiles
        try bundle.write(to: modelDirectory)

        let document = RunDocument(metrics: metrics, epochs: trained.history, validationLoss: validation?.loss,
                                   validationAccuracy: validation?.accuracy,
                                   split: DatasetSplit.Part.allCases.reduce(into: [:]) { d, part in
                                       d[part.rawValue] = SplitCounts(images: split[part].count,
                                                                       patients: Set(split[part].map(\.group)).count)
                                   },
                                   skipped: dataset.skipped.count, seconds: Date().timeIntervalSince(started))
        try AtomicFile.write(try document.json(), to: run.appendingPathComponent("metrics.json").path)
        try AtomicFile.write(Data(Predictions.csv(images: split.test, classes: classes, probabilities: probabilities).utf8),
                             to: run.appendingPathComponent("predictions.csv").path)
        try AtomicFile.write(Data(SplitListing.csv(split).utf8), to: run.appendingPathComponent("split.csv").path)
        try AtomicFile.write(Data(SkippedListing.csv(dataset.skipped).utf8), to: run.appendingPathComponent("skipped.csv").path)

        let examples = try HeatmapExamples.worstMisclassified(images: split.test, labels: testSet.labels,
                                                              probabilities: probabilities, classes: classes,
                                                              head: trained.head, backbone: backbone,
                                                              limit: config.heatmapExamples)
        let report = RunReport(title: "Lightbox training run", dataset: dataset, split: split, configuration: config,
                               history: trained.history, keptEpoch: trained.keptEpoch, metrics: metrics,
                               validation: validation, balanceNotes: notes, examples: examples)
        let reportPath = run.appendingPathComponent("report.html").path
        try AtomicFile.write(Data(report.html().utf8), to: reportPath)
        return TrainingSummary(runDirectory: run.path, modelDirectory: modelDirectory, reportPath: reportPath,
                               metrics: metrics, validationAccuracy: validation?.accuracy)
    }

    static func imagesPerClass(_ images: [LabeledImage]) -> [String: Int] {
        images.reduce(into: [:]) { $0[$1.label, default: 0] += 1 }
    }

    static func positiveIndex(_ classes: [String], requested: String?) throws -> Int? {
        guard classes.count == 2 else { return nil }
        if let requested {
            guard let i = classes.firstIndex(of: requested) else {
                throw DatasetError("--positive \(requested) is not one of the classes \(classes)")
            }
            return i
        }
        return classes.firstIndex(of: "COVID-19") ?? 0
    }
}
