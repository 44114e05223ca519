import Foundation
import LightboxCore
import LightboxData
import LightboxEmbedding
import LightboxHead
import LightboxImaging
import LightboxInterop
import LightboxModels
import LightboxReport

/// Everything `lightbox train` is asked to do.
/// How a model learns: the blog's frozen embeddings with a dense head, or fine-tuning the last
/// feature modules with a linear head (an ensemble).
public enum TrainingMethod: String, Sendable, CaseIterable {
    case head, finetune
}

public struct TrainingConfiguration: Sendable {
    public var method: TrainingMethod = .head
    /// Members trained with different seeds, their probabilities averaged: per fold when
    /// cross-fitting, else in all; nil: the default (`membersPerFold`).
    public var ensemble: Int?
    /// Patient-grouped cross-fitting folds (2-20): member k trains on every fold but k and scores
    /// fold k, so every picture is scored out of fold. 1: one train/validation/test split (`split`).
    public var folds = 5
    /// With `folds` above 1: the share of patients set aside as a test set no fold sees (0-0.5).
    public var testSplit = 0.0
    /// Fine-tuning's settings (with `method` finetune).
    public var fineTune = FineTuneOptions()
    public var data: String
    /// What reports and logs call the data set (nil: its source and path), for data a caller
    /// assembled itself, such as the Studio's list of a project's pictures.
    public var dataLabel: String?
    public var source: SourceKind?
    public var covid = CovidChestXraySource.Options()
    /// The labels of a `dicom-dir` folder.
    public var labels: String?
    /// How outputs and log lines name pictures (nil: `PictureIdentity.default(for: source)`).
    public var identity: PictureIdentity?
    public var split: SplitFractions
    public var balance: BalancePolicy = .none
    public var augmentCopies = 0
    public var augmentation = AugmentationRanges()
    public var training = TrainingOptions()
    public var resize: ResizePolicy = .crop
    /// Contrast equalisation of every picture after resizing (both methods; recorded in the bundle).
    public var equalization: Equalization = .none
    /// What every picture is cropped to after decoding, before the resize and augmentation (both
    /// methods; recorded in the bundle, which `predict`, `evaluate`, `audit` and the Studio then
    /// apply): the whole picture, or its predicted lung box plus `LungBox.margin`.
    public var crop: PictureCrop = .none
    /// The lung locator file of `crop` lungs (nil: the one shipped with Lightbox).
    public var lungLocator: String?
    /// How DICOM pictures are brought onto 0-255 (both methods; recorded in the bundle, which
    /// `predict`, `evaluate`, `audit` and the Studio then apply).
    public var dicomWindow: DICOMWindow = .first
    /// The class whose probability is the ROC score (two classes); default COVID-19 when present.
    public var positiveClass: String?
    /// The sensitivity the operating point (the threshold on the positive class's probability,
    /// stored in the bundle) reaches on the validation split.
    public var targetSensitivity = 0.85
    public var output: String
    public var useCache = true
    /// The embedding cache's folder (where sharded work left the embeddings); nil: the default.
    public var cacheDirectory: String?
    /// A Teachable Machine export whose MobileNet to use instead of the default backbone.
    public var teachableMachineBackbone: String?
    /// Misclassified test images shown with heatmaps in the report.
    public var heatmapExamples = 8
    /// What the shortcut audit blanks: each scored picture's located lungs (default) or the
    /// fixed central box; the lung locator (nil: the shipped one) and what audit.json calls it.
    public var auditBox: AuditBox = .lungs
    public var locator: LungLocator?
    public var locatorName = "shipped"
    /// The run context: cache folders, pixel limit, threads (built by the caller, never global).
    public var settings: LightboxSettings

    public init(data: String, output: String, settings: LightboxSettings) throws {
        self.data = data
        self.output = output
        self.settings = settings
        split = try SplitFractions()
    }

    /// Whether the run cross-fits (`folds` above 1) rather than splitting once.
    public var crossFits: Bool { folds > 1 }

    /// Members per fold (cross-fitting: `ensemble`, default 1) or in all (one split: `ensemble`,
    /// or the method's default: the blog's single head, three fine-tuned members).
    public var membersPerFold: Int { ensemble ?? (crossFits ? 1 : method.defaultEnsemble) }

    /// Every member the run trains and ships.
    public var members: Int { membersPerFold * (crossFits ? folds : 1) }

    /// The share of the pictures a member trains on (for the budget's estimate before the data
    /// is divided): the training split's, or (K-1)/K of what the test set leaves.
    public var memberShare: SplitFractions {
        guard crossFits else { return split }
        let train = (1 - testSplit) * Double(folds - 1) / Double(folds)
        return (try? SplitFractions(train: train, validation: 0, test: 1 - train)) ?? split
    }
}

extension TrainingRun {
    /// The whole-picture run of the same method and design in the folder that holds `output`
    /// (a sibling folder whose metrics.json records crop none, or no crop, with an AUC): the
    /// newest, or nil when there is none.
    static func wholePictureRun(besides output: String, method: TrainingMethod, folds: Int, evaluation: String) -> RunDocument.CropComparison? {
        let own = URL(fileURLWithPath: output).standardizedFileURL
        let parent = own.deletingLastPathComponent()
        let fm = FileManager.default
        guard let names = try? fm.contentsOfDirectory(atPath: parent.path) else { return nil }
        var best: (date: Date, found: RunDocument.CropComparison)?
        for name in names.sorted() where name != own.lastPathComponent {
            let file = parent.appendingPathComponent(name).appendingPathComponent("metrics.json")
            guard let data = try? ContainedFile.read("metrics.json", in: parent.appendingPathComponent(name).path, maxBytes: 64 << 20),
                  let json = (try? JSONSerialization.jsonObject(with: data)) as? [String: Any],
                  (json["crop"] as? String ?? PictureCrop.none.rawValue) == PictureCrop.none.rawValue,
                  json["method"] as? String == method.rawValue, json["folds"] as? Int == folds,
                  json["evaluation"] as? String == evaluation,
                  let auc = json["auc"] as? Double, auc.isFinite else { continue }
            let ci = (json["auc_ci"] as? [Double]).flatMap { $0.count == 2 && $0.allSatisfy(\.isFinite) ? $0 : nil }
            let date = ((try? fm.attributesOfItem(atPath: file.path))?[.modificationDate] as? Date) ?? .distantPast
            if best == nil || date > best!.date { best = (date, RunDocument.CropComparison(run: name, auc: auc, aucCI: ci)) }
        }
        return best?.found
    }

    /// The report's sentence on a lungs-only run beside the whole-picture run (`whole`).
    static func cropSentence(_ whole: RunDocument.CropComparison, lungs: ClassificationMetrics, scope: String) -> String {
        func figure(_ auc: Double, _ ci: [Double]?) -> String {
            String(format: "%.3f", auc) + (ci.map { String(format: " (95%% interval %.3f-%.3f)", $0[0], $0[1]) } ?? "")
        }
        let name = String(whole.run.unicodeScalars.filter { $0.value >= 32 && $0.value != 127 }.prefix(80).map(Character.init))
        guard let auc = lungs.auc else {
            return "Trained on whole pictures (run \(name)), the same recipe scored AUC \(figure(whole.auc, whole.aucCI)) on its \(scope) pictures; this lungs-only run has no AUC to set beside it."
        }
        var text = "Trained on whole pictures (run \(name)), the same recipe scored AUC \(figure(whole.auc, whole.aucCI)) on its \(scope) pictures; on the lungs alone, \(figure(auc, lungs.aucCI))."
        let overlap = whole.aucCI.flatMap { w in lungs.aucCI.map { l in w[0] <= l[1] && l[0] <= w[1] } }
        // Below a hundredth apart the AUCs are the same figure as printed to two places: no drop to explain.
        if auc < whole.auc - 0.01 {
            text += " A drop means the whole-picture model partly read what lies outside the lungs (labels, devices, borders, the look of a hospital), which a model for patients elsewhere cannot count on."
            if overlap == true { text += " The two intervals overlap: on this much data the drop may be chance." }
        } else {
            text += (auc < whole.auc ? String(format: " The lungs alone scored about the same (%.3f lower)", whole.auc - auc) : " The lungs alone scored no lower")
                + ", so this comparison does not suggest the whole-picture model leaned on what lies outside the lungs"
                + (overlap == true ? "; the intervals overlap, and a data set this small can hide a difference." : ".")
        }
        return text
    }
}

extension TrainingConfiguration {
    /// The lungs-only crop `crop` asks for, on the pretrained MobileNetV2 with the locator
    /// `lungLocator` (default: the shipped one); nil for whole pictures.
    func lungCrop(_ reporter: Reporter) throws -> LungCrop? {
        guard crop == .lungs else { return nil }
        let file = try lungLocator.map { path -> Data in
            do {
                return try Data(contentsOf: URL(fileURLWithPath: path))
            } catch {
                throw WeightsError("\(path): cannot read the lung locator (\((error as NSError).localizedDescription))")
            }
        }
        let lungCrop = try LungCrop.load(locatorFile: file, source: lungLocator ?? "the shipped lung locator", settings: settings,
                                         dicomWindow: dicomWindow)
        reporter.note("lungs only: every picture is cut to its predicted lung box plus \(Int((lungCrop.margin * 100).rounded()))% on each side before the resize (lung locator \(lungCrop.locatorSHA256.prefix(12)))")
        return lungCrop
    }
}

extension TrainingMethod {
    /// Members trained when `--ensemble` is not given.
    public var defaultEnsemble: Int {
        switch self {
        case .head: 1
        case .finetune: 3
        }
    }
}

/// What training produced, whatever the method and design: the model (its frozen part and
/// members), the per-epoch history, the probabilities of the scored pictures, and what the run
/// records of it. `TrainingRun.writeRun` turns it into the run directory.
struct TrainedRun {
    var model: TrainedModel
    /// Per epoch (the members' mean when there are several).
    var history: [EpochRecord]
    /// The epoch whose weights were kept (early stopping), for the report.
    var keptEpoch: Int
    /// The design's scored pictures (`RunDesign.scored`): the test split's by the whole ensemble,
    /// or each fold picture's by the members that did not train on its fold.
    var scoredProbabilities: [Float]
    /// One split: the validation pictures' (where the operating point is chosen).
    var validationProbabilities: [Float]
    /// Cross-fitting: the held-out test set's, by the whole ensemble.
    var heldOutProbabilities: [Float] = []
    /// Cross-fitting: the members of fold k (those that scored it), fold by fold.
    var foldMembers: [Range<Int>] = []
    var validation: (loss: Double, accuracy: Double)?
    var balanceNotes: [String] = []
    /// Pictures a member trained on (augmented copies included).
    var trainImages: Int
    var backbone: ModelBundle.Backbone
    /// Files of a backbone that is not built in, kept in the bundle.
    var backboneFiles: [String: Data] = [:]
    /// Free-form facts the bundle records.
    var facts: [String: String]
    var title: String
    /// What metrics.json records of an ensemble and of fine-tuning (nil: not recorded).
    var ensemble: Int?, unfreeze: Int?
}

/// What a finished run produced.
public struct TrainingSummary: Sendable {
    public var runDirectory: String
    public var modelDirectory: String
    public var reportPath: String
    public var metrics: ClassificationMetrics
    public var validationAccuracy: Double?
    /// K (1: one split), and what the metrics rest on: "out-of-fold" or "held-out test".
    public var folds: Int
    public var evaluation: String
    /// Each fold's own AUC (one split: the test split's).
    public var foldAUCs: [Double?]
    /// Why the model has no operating point, when it has none.
    public var operatingPointNote: String?
    /// Cross-fitting's held-out test set (`--test-split`), scored by the whole ensemble.
    public var heldOutTest: ClassificationMetrics?
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
    /// `distributor` takes the per-picture work worth a cluster (fine-tuning's held-out frozen
    /// work; the head method's embeddings are handed over through `config.cacheDirectory`).
    public static func run(_ config: TrainingConfiguration, reporter: Reporter = SilentReporter(),
                           distributor: PictureWorkDistributor? = nil) throws -> TrainingSummary {
        try TrainingOptionRules.validate(config)
        let started = Date(), timings = StageTimings()
        func checkpoint() throws { if reporter.isCancelled { throw TrainingCancelled() } }
        try checkpoint()
        var (dataset, digests) = try loadData(config, reporter)
        timings.lap("load")
        try checkpoint()
        if config.method == .finetune {
            return try FineTuneRun.run(config, dataset: dataset, digests: digests, reporter: reporter, started: started, timings: timings, distributor: distributor,
                                       checkpoint: checkpoint)
        }
        let (backbone, backboneFiles) = try resolveBackbone(config, reporter)
        let embedder = backbone.sampleEmbedder(cache: config.useCache,
                                               directory: config.cacheDirectory ?? config.settings.folder("embeddings"))
        try checkpoint()
        let originals = try embedOriginals(&dataset, embedder: embedder, digests: digests, config: config, reporter: reporter,
                                           checkpoint: checkpoint)
        let design = try divideByPatient(dataset, config: config, reporter: reporter)
        try checkpoint()
        let trained: TrainedRun
        switch design {
        case .split(let split):
            let sets = try trainingSets(split, classes: dataset.classes, originals: originals, embedder: embedder, digests: digests,
                                        width: backbone.embedder.network.embeddingChannels, config: config, reporter: reporter,
                                        checkpoint: checkpoint)
            timings.lap("prepare")
            trained = try trainHeads(sets, classes: dataset.classes, backbone: backbone, backboneFiles: backboneFiles, dataset: dataset,
                                     config: config, reporter: reporter)
        case .crossFit(let crossFit):
            timings.lap("prepare")
            trained = try trainCrossFitHeads(crossFit, classes: dataset.classes, originals: originals, embedder: embedder, digests: digests,
                                             backbone: backbone, backboneFiles: backboneFiles, dataset: dataset, config: config,
                                             reporter: reporter, checkpoint: checkpoint)
        }
        timings.lap("train")
        // The last point to stop: from here on the run directory is written.
        try checkpoint()
        return try writeRun(config: config, dataset: dataset, design: design, trained: trained, digests: digests, reporter: reporter,
                            started: started, timings: timings)
    }

    /// The head method's members: `config.members` dense heads on the embedding tables, seeds
    /// seed, seed+1, ... (one head: the blog's model, exactly as before ensembles existed).
    static func trainHeads(_ sets: Sets, classes: [String], backbone: Backbone, backboneFiles: [String: Data], dataset: Dataset,
                           config: TrainingConfiguration, reporter: Reporter) throws -> TrainedRun {
        let count = config.members
        var results: [HeadTrainer.Result] = []
        for m in 0..<count {
            if count > 1 { reporter.note("head ensemble: member \(m + 1) of \(count)") }
            var options = config.training
            options.seed = config.training.seed &+ UInt64(m)
            let result = try HeadTrainer.train(train: sets.train, validation: sets.validation.count > 0 ? sets.validation : nil,
                                           classes: classes.count, options: options, shouldStop: { reporter.isCancelled }) { record in
                // The live curves follow the first member.
                if m == 0 { reporter.epoch(record, of: config.training.epochs) }
            }
            if reporter.isCancelled { throw TrainingCancelled() }
            results.append(result)
        }
        let model = TrainedModel(backbone: backbone, members: results.map { DenseHeadMember($0.head) })
        let validationProbabilities = sets.validation.count > 0
            ? try model.probabilities(embeddings: sets.validation.features, rows: sets.validation.count) : []
        let validation: (loss: Double, accuracy: Double)?
        if sets.validation.count == 0 {
            validation = nil
        } else if count == 1 {
            validation = HeadTrainer.evaluate(results[0].head, sets.validation)
        } else {
            validation = FineTuneTraining.lossAndAccuracy(validationProbabilities, labels: sets.validation.labels, classes: classes.count)
        }
        let epochs = results.map(\.history.count).min() ?? 0
        let history = count == 1 ? results[0].history
            : (0..<epochs).map { e in FineTuneTraining.mean(results.map { $0.history[e] }) }
        return TrainedRun(model: model, history: history, keptEpoch: count == 1 ? results[0].keptEpoch : epochs,
                          scoredProbabilities: try model.probabilities(embeddings: sets.test.features, rows: sets.test.count),
                          validationProbabilities: validationProbabilities,
                          validation: validation, balanceNotes: sets.balanceNotes, trainImages: sets.train.count,
                          backbone: ModelBundle.Backbone(backbone), backboneFiles: backboneFiles,
                          facts: ["data": dataset.source, "epochs_run": results.map { "\($0.history.count)" }.joined(separator: ","),
                                  "kept_epoch": results.map { "\($0.keptEpoch)" }.joined(separator: ","),
                                  "seed": "\(config.training.seed)", "balance": config.balance.description]
                              .merging(count == 1 ? [:] : ["ensemble": "\(count)"]) { a, _ in a },
                          title: "Lightbox training run", ensemble: count == 1 ? nil : count)
    }

    // MARK: the stages

    /// The data set, checked against the budget from its class sizes, with repeated pictures
    /// removed; and every file's content digest.
    static func loadData(_ config: TrainingConfiguration, _ reporter: Reporter)
        throws -> (Dataset, [String: Result<String, ImageDecodingError>]) {
        var dataset = try DatasetLoader.load(config.data, kind: config.source, covidOptions: config.covid, labels: config.labels,
                                             saltFolder: config.settings.home)
        if let label = config.dataLabel { dataset.source = label }
        reporter.note("data: \(dataset.source): \(dataset.images.count) images in \(dataset.classes.count) classes, \(dataset.skipped.count) skipped")
        if !dataset.hasGroups { reporter.note("the source has no patient ids: each image is its own group") }
        if let empty = dataset.emptyClasses.first {
            throw DatasetError("\(config.data): class '\(empty)' has no pictures: add pictures to it or remove it"
                               + (dataset.emptyClasses.count > 1 ? " (nor have \(dataset.emptyClasses.dropFirst().map { "'\($0)'" }.joined(separator: ", ")))" : ""))
        }
        try TrainingOptionRules.checkBudget(
            trainImagesPerClass: TrainingOptionRules.expectedTrainImages(perClass: imagesPerClass(dataset.images), split: config.memberShare),
            config: config)
        let digests = ContentDigests.compute(dataset.images.map(\.path), threads: config.settings.threads)
        dataset = dataset.identified(by: config.identity ?? .default(for: config.source), digests: digests, threads: config.settings.threads)
        let kept = DuplicateFilter.apply(dataset, digests: digests)
        if let lost = kept.lostClass(since: dataset) {
            throw DatasetError("\(config.data): class '\(lost.name)' has no usable pictures\(lost.example): replace them or remove the class")
        }
        noteClasses(kept, reporter)
        return (kept, digests)
    }

    /// The classes found, with their picture counts, and what looks wrong about them: the
    /// person who pointed `--data` at a folder sees what it became before any training.
    static func noteClasses(_ dataset: Dataset, _ reporter: Reporter) {
        let counts = zip(dataset.classes, dataset.countsPerClass)
        reporter.note("classes: " + counts.map { "\($0) (\($1) picture\($1 == 1 ? "" : "s"))" }.joined(separator: ", "))
        for (name, count) in counts where count < ClassNames.fewPictures {
            reporter.note("warning: class '\(name)' has only \(count) picture\(count == 1 ? "" : "s"): its figures rest on a handful of pictures; "
                          + "\(ClassNames.fewPictures) or more per class are needed for numbers that mean much")
        }
        dataset.warnings.forEach { reporter.note("warning: \($0)") }
    }

    /// The frozen backbone: torchvision's MobileNetV2, or a Teachable Machine export's (whose
    /// files the bundle then carries).
    static func resolveBackbone(_ config: TrainingConfiguration, _ reporter: Reporter) throws -> (Backbone, [String: Data]) {
        let decoder = ImageDecoder(maxPixels: config.settings.maxPixels, dicomWindow: config.dicomWindow)
        let crop = try config.lungCrop(reporter)
        guard let path = config.teachableMachineBackbone else {
            return (try Backbone.pretrained(Preprocessor(policy: config.resize, equalization: config.equalization),
                                            weightsFolder: PretrainedMobileNetV2.folder(in: config.settings),
                                            decoder: decoder, parallelism: config.settings.threads,
                                            arithmetic: config.settings.arithmetic).cropping(crop), [:])
        }
        let model = try TFJSLayersModel.load(path)
        reporter.note("backbone: the MobileNet of the Teachable Machine export \(path)")
        return (try Backbone.teachableMachine(model, policy: config.resize, equalization: config.equalization,
                                              decoder: decoder, parallelism: config.settings.threads,
                                              arithmetic: config.settings.arithmetic).cropping(crop), model.files)
    }

    /// What embedding every original image once produced: the embeddings by path and the
    /// cache counts. Images that do not decode leave `dataset` as skipped items.
    struct Originals {
        var embeddingOf: [String: [Float]]
        var cacheHits: Int, computed: Int
    }

    static func embedOriginals(_ dataset: inout Dataset, embedder: SampleEmbedder,
                               digests: [String: Result<String, ImageDecodingError>], config: TrainingConfiguration,
                               reporter: Reporter, checkpoint: @escaping () throws -> Void) throws -> Originals {
        let originals = dataset.images.map { TrainingSample(image: $0) }
        let base = try embedder.embed(originals, digests: digests, checkpoint: checkpoint) {
            reporter.progress("embedding images", done: $0, total: $1)
        }
        var embeddingOf: [String: [Float]] = [:]
        for (sample, e) in zip(originals, base.embeddings) { if let e { embeddingOf[sample.image.path] = e } }
        let unreadable = Dictionary(base.failures.map { ($0.path, "unreadable image: \($0.reason)") }, uniquingKeysWith: { a, _ in a })
        let before = dataset
        dataset = dataset.removing { image in embeddingOf[image.path] == nil ? unreadable[image.path] ?? "not embedded" : nil }
        if let lost = dataset.lostClass(since: before) {
            throw DatasetError("\(config.data): class '\(lost.name)' has no readable pictures\(lost.example): replace them or remove the class")
        }
        guard dataset.classes.count >= 2 else {
            throw DatasetError("\(config.data): need at least two classes with usable images, found \(dataset.classes)")
        }
        return Originals(embeddingOf: embeddingOf, cacheHits: base.cacheHits, computed: base.computed)
    }

    /// The patient-level split, reported part by part, then the exact budget from the training
    /// split, before any augmented copy is drawn (the sample list of an augment-to:N far too
    /// large would not fit in memory).
    static func splitByPatient(_ dataset: Dataset, config: TrainingConfiguration, reporter: Reporter) throws -> DatasetSplit {
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
        try TrainingOptionRules.checkBudget(trainImagesPerClass: imagesPerClass(split.train), config: config)
        return split
    }

    /// The run's design: one patient-level split (`--folds 1`, `splitByPatient`), or the
    /// cross-fitting folds, reported fold by fold, then the budget from a member's training
    /// pictures, before any augmented copy is drawn.
    static func divideByPatient(_ dataset: Dataset, config: TrainingConfiguration, reporter: Reporter) throws -> RunDesign {
        guard config.crossFits else { return .split(try splitByPatient(dataset, config: config, reporter: reporter)) }
        let classes = dataset.classes
        let crossFit = try FoldSplitter.split(dataset.images, folds: config.folds, testFraction: config.testSplit, seed: config.training.seed)
        if !dataset.hasGroups { reporter.note("cross-fitting: without patient ids each picture is its own group in the folds") }
        for (name, images) in RunDesign.crossFit(crossFit).parts where name != "test" || !images.isEmpty {
            let perClass = classes.map { c in "\(c) \(images.filter { $0.label == c }.count)" }.joined(separator: ", ")
            reporter.note("\(name): \(images.count) images, \(Set(images.map(\.group)).count) groups (\(perClass))")
        }
        for (k, fold) in crossFit.folds.enumerated() {
            for c in classes where !fold.contains(where: { $0.label == c }) {
                reporter.note("warning: class '\(c)' has no images in fold \(k + 1): fewer of its patients than folds")
            }
        }
        guard crossFit.folds.allSatisfy({ !$0.isEmpty }) else {
            throw DatasetError("\(config.data): too few groups for \(config.folds) folds (\(Set(dataset.images.map(\.group)).count) groups): lower --folds")
        }
        try TrainingOptionRules.checkBudget(trainImagesPerClass: imagesPerClass(crossFit.training(excludingFold: 0)), config: config)
        return .crossFit(crossFit)
    }

    /// The head's three tables; the training one with the balancing and augmented copies
    /// (drawn from the training split only, then embedded).
    struct Sets {
        var train: LabeledEmbeddings, validation: LabeledEmbeddings, test: LabeledEmbeddings
        var balanceNotes: [String]
    }

    static func trainingSets(_ split: DatasetSplit, classes: [String], originals: Originals, embedder: SampleEmbedder,
                             digests: [String: Result<String, ImageDecodingError>], width: Int, config: TrainingConfiguration,
                             reporter: Reporter, checkpoint: @escaping () throws -> Void) throws -> Sets {
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
        reporter.note("embeddings: \(originals.cacheHits + extra.cacheHits) from cache, \(originals.computed + extra.computed) computed")

        func table(_ rows: [(LabeledImage, [Float])]) -> LabeledEmbeddings {
            LabeledEmbeddings(features: rows.flatMap(\.1), labels: rows.map { classes.firstIndex(of: $0.0.label)! }, width: width)
        }
        let trainRows = samples.compactMap { s -> (LabeledImage, [Float])? in
            guard let e = s.augmentation == nil ? originals.embeddingOf[s.image.path] : augmentedEmbedding[s] else { return nil }
            return (s.image, e)
        }
        return Sets(train: table(trainRows),
                    validation: table(split.validation.map { ($0, originals.embeddingOf[$0.path]!) }),
                    test: table(split.test.map { ($0, originals.embeddingOf[$0.path]!) }),
                    balanceNotes: notes)
    }

    /// The operating point, the metrics of the scored pictures, then the run directory: the
    /// model bundle, metrics.json, the three CSV files, the audit, the heatmaps of the worst
    /// mistakes and report.html. The same for every method; the design decides what the figures
    /// rest on (`RunDesign`).
    /// `digests`: every picture's content digest (the bundle records its training pictures').
    static func writeRun(config: TrainingConfiguration, dataset: Dataset, design: RunDesign, trained: TrainedRun,
                         digests: [String: Result<String, ImageDecodingError>],
                         reporter: Reporter, started: Date, timings: StageTimings) throws -> TrainingSummary {
        let classes = dataset.classes
        let label = { (image: LabeledImage) in classes.firstIndex(of: image.label)! }
        let positive = try positiveIndex(classes, requested: config.positiveClass)
        let scored = design.scored, labels = scored.map(label)
        // Cross-fitting: one temperature fitted on every out-of-fold prediction, applied to the
        // model (so to every probability it shows or exports) and to the figures below.
        let calibration = fitCalibration(design: design, trained: trained, labels: labels, classes: classes, positive: positive,
                                         reporter: reporter)
        let probabilities = trained.model.calibrated(trained.scoredProbabilities)
        let chosen: (point: OperatingPoint?, note: String?)
        switch design {
        case .split(let split):
            chosen = try operatingPoint(validation: trained.validationProbabilities, labels: split.validation.map(label),
                                        classes: classes, config: config, reporter: reporter)
        case .crossFit:
            chosen = try outOfFoldOperatingPoint(probabilities, images: scored, labels: labels, classes: classes, config: config,
                                                 reporter: reporter)
        }
        let point = chosen.point
        let decision = DecisionRule(operatingPoint: point, classes: classes)
        let metrics = ClassificationMetrics(classes: classes, labels: labels, probabilities: probabilities,
                                            groups: scored.map(\.group), positive: positive, decision: decision,
                                            seed: config.training.seed)
        let foldAUCs = foldAUCs(design: design, labels: labels, probabilities: probabilities, classes: classes.count,
                                positive: positive, metrics: metrics)
        let heldOut = design.heldOutTest.isEmpty ? nil
            : ClassificationMetrics(classes: classes, labels: design.heldOutTest.map(label),
                                    probabilities: trained.model.calibrated(trained.heldOutProbabilities),
                                    groups: design.heldOutTest.map(\.group), positive: positive, decision: decision,
                                    seed: config.training.seed)
        timings.lap("evaluate")

        let run = URL(fileURLWithPath: config.output)
        try FileManager.default.createDirectory(at: run, withIntermediateDirectories: true)
        let modelDirectory = run.appendingPathComponent("model").path
        var bundle = try ModelBundle(classes: classes, backbone: trained.backbone,
                                     preprocessing: ModelBundle.Preprocessing(trained.model.preprocessor,
                                                                              dicomWindow: trained.model.decoder.dicomWindow),
                                     members: trained.model.members, training: trained.facts)
        bundle.backboneFiles = trained.backboneFiles
        bundle.operatingPoint = point
        bundle.calibration = trained.model.calibration
        bundle.trainingDigests = trainingDigests(design: design, digests: digests)
        bundle.crop = trained.model.crop.map { ModelBundle.Crop(margin: $0.margin, locatorSHA256: $0.locatorSHA256, locatorFile: $0.locatorFile) }
        try bundle.write(to: modelDirectory)
        // Each scored picture is audited and explained by the members that scored it.
        let scorers = design.foldOfScored == nil ? [trained.model] : trained.foldMembers.map { trained.model.keeping(members: $0) }
        let scorerOf = design.foldOfScored ?? [Int](repeating: 0, count: scored.count)
        let audit = try auditScored(scorers: scorers.map { Predictor(model: $0, classes: classes, decision: decision,
                                                                       baseWeightsSHA256: trained.backbone.weightsSHA256) },
                                    scorerOf: scorerOf, images: scored, probabilities: probabilities, positive: positive,
                                    scope: design.evaluation, auditFile: run.appendingPathComponent("audit.json").path,
                                    lungs: try ShortcutAudit.lungs(config.auditBox, locator: config.locator, name: config.locatorName,
                                                                   settings: config.settings, dicomWindow: config.dicomWindow),
                                    names: dataset.names, reporter: reporter)
        let scorerOfPath = Dictionary(zip(scored.map(\.path), scorerOf), uniquingKeysWith: { a, _ in a })
        let examples = try HeatmapExamples.worstMisclassified(images: scored, names: dataset.names, labels: labels, probabilities: probabilities,
                                                              classes: classes, decision: decision, limit: config.heatmapExamples) { paths, targets in
            try zip(paths, targets).map { path, target in
                try scorers[scorerOfPath[path] ?? 0].explain(paths: [path], targets: [target], lungBoxes: [audit.squareBoxes[path]])[0].png
            }
        }
        var evaluation = reportEvaluation(design: design, metrics: metrics, foldAUCs: foldAUCs, heldOut: heldOut,
                                          members: trained.model.members.count, pointNote: chosen.note)
        evaluation.calibration = calibration.map { ($0.scaling.temperature, $0.before.brier, $0.before.calibration) }
        let cropComparison = config.crop == .lungs ? wholePictureRun(besides: config.output, method: config.method, folds: design.folds, evaluation: design.evaluation) : nil
        if let cropComparison { evaluation.notes.append(Self.cropSentence(cropComparison, lungs: metrics, scope: design.evaluation)) }
        // One headline for the report's box, metrics.json and the Studio.
        let headline = Headline(metrics: metrics, scope: design.foldOfScored == nil ? "test" : "out-of-fold",
                                shortcut: audit.headlineShortcut, patientIDs: dataset.hasGroups)
        let report = RunReport(title: trained.title, dataset: dataset, parts: design.parts, evaluation: evaluation,
                               history: trained.history, keptEpoch: trained.keptEpoch, metrics: metrics,
                               validation: trained.validation, balanceNotes: trained.balanceNotes, examples: examples,
                               operatingPoint: point, audit: audit.section, headline: headline,
                               parameters: config.reportParameters(positiveClass: metrics.positiveClass))
        let reportPath = run.appendingPathComponent("report.html").path
        try AtomicFile.write(Data(report.html().utf8), to: reportPath)
        timings.lap("report")

        var document = RunDocument(metrics: metrics, epochs: trained.history, validationLoss: trained.validation?.loss,
                                   validationAccuracy: trained.validation?.accuracy, split: splitCounts(design),
                                   skipped: dataset.skipped.count, seconds: Date().timeIntervalSince(started))
        document.method = config.method.rawValue
        // metrics.json (which the Studio loads whole) keeps the audit's figures; the per-picture
        // lung boxes and heatmap masses are in audit.json.
        var summary = audit
        summary.pictures = nil
        document.audit = summary
        document.ensemble = trained.ensemble
        document.unfreeze = trained.unfreeze
        document.trainImages = trained.trainImages
        document.epochsRun = trained.history.count
        document.timings = timings.seconds
        document.folds = design.folds
        document.evaluation = design.evaluation
        document.foldAUC = foldAUCs
        document.operatingPointNote = chosen.note
        document.heldOutTest = heldOut
        document.headline = headline
        document.patientIDs = dataset.hasGroups
        document.arithmetic = config.settings.arithmetic
        document.crop = config.crop.rawValue
        document.cropComparison = cropComparison
        document.calibration = calibration.map { c in
            RunDocument.Calibration(temperature: c.scaling.temperature, brierBefore: c.before.brier, brierAfter: metrics.brier,
                                    binsBefore: c.before.calibration)
        }
        try writeTables(run: run, document: document, design: design, dataset: dataset, probabilities: probabilities,
                        decision: decision)
        return TrainingSummary(runDirectory: run.path, modelDirectory: modelDirectory, reportPath: reportPath,
                               metrics: metrics, validationAccuracy: trained.validation?.accuracy, folds: design.folds,
                               evaluation: design.evaluation, foldAUCs: foldAUCs, operatingPointNote: chosen.note,
                               heldOutTest: heldOut)
    }

    /// Cross-fitting's calibration: the temperature fitted on the out-of-fold probabilities (set
    /// on `trained.model`), with the metrics before it (their Brier score and reliability bins);
    /// nil for one split (its outputs stay as they were) or when no temperature can be fitted.
    static func fitCalibration(design: RunDesign, trained: TrainedRun, labels: [Int], classes: [String], positive: Int?,
                               reporter: Reporter) -> (scaling: TemperatureScaling, before: ClassificationMetrics)? {
        guard case .crossFit = design,
              let scaling = TemperatureScaling.fit(probabilities: trained.scoredProbabilities, labels: labels, classes: classes.count)
        else { return nil }
        let before = ClassificationMetrics(classes: classes, labels: labels, probabilities: trained.scoredProbabilities,
                                           groups: design.scored.map(\.group), positive: positive, bootstrap: 0)
        trained.model.calibration = scaling
        reporter.note(String(format: "calibration: temperature %.3f fitted on the out-of-fold predictions (Brier score %.3f before)",
                             scaling.temperature, before.brier ?? .nan))
        return (scaling, before)
    }

    /// The content digests of every picture a shipped member trained on (every fold picture;
    /// one split: the training split), for `evaluate`'s overlap warning.
    static func trainingDigests(design: RunDesign, digests: [String: Result<String, ImageDecodingError>]) -> [String] {
        let trainedOn: [LabeledImage]
        switch design {
        case .split(let split): trainedOn = split.train
        case .crossFit(let crossFit): trainedOn = crossFit.foldImages
        }
        return Set(trainedOn.compactMap { try? digests[$0.path]?.get() }).sorted()
    }

    /// Each fold's AUC from its own members' out-of-fold probabilities (one split: the test
    /// split's), nil where a fold lacks a class.
    static func foldAUCs(design: RunDesign, labels: [Int], probabilities: [Float], classes k: Int, positive: Int?,
                         metrics: ClassificationMetrics) -> [Double?] {
        guard let foldOf = design.foldOfScored else { return [metrics.auc] }
        guard let positive, k == 2 else { return [Double?](repeating: nil, count: design.folds) }
        return (0..<design.folds).map { fold in
            let rows = foldOf.indices.filter { foldOf[$0] == fold }
            return ROC.auc(scores: rows.map { Double(probabilities[$0 * k + positive]) }, positive: rows.map { labels[$0] == positive })
        }
    }

    /// What the report says of the design.
    static func reportEvaluation(design: RunDesign, metrics: ClassificationMetrics, foldAUCs: [Double?], heldOut: ClassificationMetrics?,
                                 members: Int, pointNote: String?) -> RunReport.Evaluation {
        guard case .crossFit = design else { return .heldOutTest(images: metrics.nImages, patients: metrics.nPatients) }
        return .outOfFold(images: metrics.nImages, patients: metrics.nPatients, folds: design.folds, members: members,
                          foldAUCs: foldAUCs, heldOut: heldOut, noPointReason: pointNote)
    }

    static func splitCounts(_ design: RunDesign) -> [String: SplitCounts] {
        design.parts.reduce(into: [:]) { d, part in
            d[part.name] = SplitCounts(images: part.images.count, patients: Set(part.images.map(\.group)).count)
        }
    }

    /// metrics.json, predictions.csv (the scored pictures' probabilities; cross-fitting adds
    /// each picture's fold), split.csv and skipped.csv.
    static func writeTables(run: URL, document: RunDocument, design: RunDesign, dataset: Dataset, probabilities: [Float],
                            decision: DecisionRule) throws {
        try AtomicFile.write(try document.json(), to: run.appendingPathComponent("metrics.json").path)
        try AtomicFile.write(Data(Predictions.csv(images: design.scored, names: dataset.names, classes: dataset.classes,
                                                  probabilities: probabilities, decision: decision, folds: design.foldOfScored).utf8),
                             to: run.appendingPathComponent("predictions.csv").path)
        try AtomicFile.write(Data(SplitListing.csv(design.parts, names: dataset.names).utf8), to: run.appendingPathComponent("split.csv").path)
        try AtomicFile.write(Data(SkippedListing.csv(dataset.skipped, names: dataset.names).utf8),
                             to: run.appendingPathComponent("skipped.csv").path)
        // The groups of DICOM pictures are pseudonyms of their patient ids: the salt goes with
        // them, so the user (and only someone holding the run) can join them back.
        try dataset.pseudonyms?.write(into: run.path)
    }

    static func imagesPerClass(_ images: [LabeledImage]) -> [String: Int] {
        images.reduce(into: [:]) { $0[$1.label, default: 0] += 1 }
    }

    /// The shortcut audit of the model just written, on the scored pictures (whose
    /// probabilities as they are are known), each scored by its own members (`scorers[scorerOf[i]]`),
    /// also written to the run directory as audit.json.
    static func auditScored(scorers: [Predictor], scorerOf: [Int], images: [LabeledImage], probabilities: [Float], positive: Int?,
                            scope: String, auditFile: String, lungs: ShortcutAudit.Lungs?, names: PictureNames,
                            reporter: Reporter) throws -> ShortcutAudit {
        let audit = try ShortcutAudit.run(scorers: scorers, scorerOf: scorerOf, images: images, positive: positive,
                                          asIs: probabilities, lungs: lungs, names: names) { reporter.note("audit: scoring the \(scope) pictures with \($0)") }
        reporter.note("audit: \(audit.verdict)")
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.prettyPrinted, .sortedKeys]
        try AtomicFile.write(try encoder.encode(audit), to: auditFile)
        return audit
    }

    /// The operating point chosen on the validation split's probabilities (two classes with a
    /// positive image among the validation patients), or nil (argmax) with a note why.
    static func operatingPoint(validation probabilities: [Float], labels: [Int], classes: [String], config: TrainingConfiguration,
                               reporter: Reporter) throws -> (point: OperatingPoint?, note: String?) {
        guard let positive = try positiveIndex(classes, requested: config.positiveClass) else { return (nil, nil) }
        guard let point = OperatingPoint.choose(probabilities: probabilities, labels: labels, classes: classes, positive: positive,
                                                targetSensitivity: config.targetSensitivity) else {
            let note = "the validation split has no \(classes[positive]) image; the model predicts by argmax"
            reporter.note("operating point: \(note)")
            return (nil, note)
        }
        reporter.note(String(format: "operating point: %@ when its probability is at least %.3f (validation sensitivity %.2f, specificity %@)",
                             point.positiveClass, point.threshold, point.validationSensitivity,
                             point.validationSpecificity.map { String(format: "%.2f", $0) } ?? "n/a"))
        return (point, nil)
    }

    /// Patients of each side an out-of-fold operating point needs: below this a threshold chosen
    /// to catch 85% of the positives moves by whole patients.
    static let operatingPointPatients = 20

    /// The operating point chosen on every out-of-fold prediction: the threshold that reaches
    /// the target sensitivity on all positive pictures, with the best specificity there; none
    /// (argmax, with the reason) with fewer than `operatingPointPatients` positive or negative patients.
    static func outOfFoldOperatingPoint(_ probabilities: [Float], images: [LabeledImage], labels: [Int], classes: [String],
                                        config: TrainingConfiguration, reporter: Reporter) throws -> (point: OperatingPoint?, note: String?) {
        guard let positive = try positiveIndex(classes, requested: config.positiveClass) else { return (nil, nil) }
        let positives = Set(images.indices.filter { labels[$0] == positive }.map { images[$0].group }).count
        let negatives = Set(images.indices.filter { labels[$0] != positive }.map { images[$0].group }).count
        let least = operatingPointPatients
        guard positives >= least, negatives >= least,
              let point = OperatingPoint.choose(probabilities: probabilities, labels: labels, classes: classes, positive: positive,
                                                targetSensitivity: config.targetSensitivity) else {
            let note = "no threshold: the out-of-fold predictions cover \(positives) \(classes[positive]) and \(negatives) other patients, and a threshold needs at least \(least) of each; the model predicts the more probable class (argmax)"
            reporter.note("operating point: \(note)")
            return (nil, note)
        }
        reporter.note(String(format: "operating point: %@ when its probability is at least %.3f (out-of-fold sensitivity %.2f, specificity %@, on %d and %d patients)",
                             point.positiveClass, point.threshold, point.validationSensitivity,
                             point.validationSpecificity.map { String(format: "%.2f", $0) } ?? "n/a", positives, negatives))
        return (point, nil)
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
