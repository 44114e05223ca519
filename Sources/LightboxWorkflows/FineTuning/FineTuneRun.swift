import Foundation
import LightboxCore
import LightboxData
import LightboxHead
import LightboxImaging
import LightboxInterop
import LightboxModels
import LightboxReport

/// `lightbox train --method finetune`: after the data is loaded and deduplicated (as for the
/// head method), pictures that do not decode are set aside, the split is made by patient, an
/// ensemble is fine-tuned (FineTuneTraining) and the run directory written: the model bundle
/// with every member's trained modules and head, metrics.json, the CSV files and report.html.
enum FineTuneRun {
    static func run(_ config: TrainingConfiguration, dataset loaded: Dataset, reporter: Reporter, started: Date,
                    timings: StageTimings, distributor: PictureWorkDistributor?, checkpoint: () throws -> Void) throws -> TrainingSummary {
        let unreadable = Dictionary(DatasetInspection.undecodable(loaded.images.map(\.path)).map { ($0.path, "\($0.reason)") },
                                    uniquingKeysWith: { a, _ in a })
        let dataset = loaded.removing { image in unreadable[image.path].map { "unreadable image: \($0)" } }
        guard dataset.classes.count >= 2 else {
            throw DatasetError("\(config.data): need at least two classes with usable images, found \(dataset.classes)")
        }
        let split = try TrainingRun.splitByPatient(dataset, config: config, reporter: reporter)
        timings.lap("prepare")
        try checkpoint()
        let trained = try FineTuneTraining.train(split, classes: dataset.classes, config: config, reporter: reporter,
                                                 distributor: distributor, checkpoint: checkpoint)
        timings.lap("train")
        try checkpoint()

        let classes = dataset.classes
        let positive = try TrainingRun.positiveIndex(classes, requested: config.positiveClass)
        let labels = split.test.map { classes.firstIndex(of: $0.label)! }
        let point = try TrainingRun.operatingPoint(validation: trained.validationProbabilities,
                                                   labels: split.validation.map { classes.firstIndex(of: $0.label)! },
                                                   classes: classes, config: config, reporter: reporter)
        let decision = DecisionRule(operatingPoint: point, classes: classes)
        let metrics = ClassificationMetrics(classes: classes, labels: labels, probabilities: trained.testProbabilities,
                                            groups: split.test.map(\.group), positive: positive, decision: decision,
                                            seed: config.training.seed)
        timings.lap("evaluate")
        let run = URL(fileURLWithPath: config.output)
        try FileManager.default.createDirectory(at: run, withIntermediateDirectories: true)
        let modelDirectory = run.appendingPathComponent("model").path
        let options = config.fineTune
        var bundle = ModelBundle(classes: classes,
                                 backbone: ModelBundle.Backbone(id: BackboneKind.pretrainedMobileNetV2.id,
                                                                weightsSHA256: PretrainedMobileNetV2.installedDigest() ?? ""),
                                 preprocessing: ModelBundle.Preprocessing(trained.model.preprocessor),
                                 fineTuned: FineTunedEnsemble(firstModule: options.firstModule,
                                                              members: trained.model.members.map(\.tensors)),
                                 training: ["data": dataset.source, "method": "finetune", "ensemble": "\(options.ensemble)",
                                            "unfreeze": "\(options.unfreeze)", "epochs_run": "\(config.training.epochs)",
                                            "seed": "\(config.training.seed)"])
        bundle.operatingPoint = point
        try bundle.write(to: modelDirectory)
        let audit = try TrainingRun.auditTestSplit(model: modelDirectory, test: split.test, probabilities: trained.testProbabilities,
                                                   positive: positive, reporter: reporter)

        let examples = try HeatmapExamples.worstMisclassified(images: split.test, labels: labels, probabilities: trained.testProbabilities,
                                                              classes: classes, decision: decision, limit: config.heatmapExamples) {
            try trained.model.explain(paths: $0, targets: $1).map(\.png)
        }
        let report = RunReport(title: "Lightbox training run (fine-tuned)", dataset: dataset, split: split, history: trained.history,
                               keptEpoch: config.training.epochs, metrics: metrics, validation: trained.validation,
                               balanceNotes: [], examples: examples, operatingPoint: point, audit: audit.section, parameters: config.reportParameters(positiveClass: metrics.positiveClass))
        let reportPath = run.appendingPathComponent("report.html").path
        try AtomicFile.write(Data(report.html().utf8), to: reportPath)
        timings.lap("report")

        var document = RunDocument(metrics: metrics, epochs: trained.history, validationLoss: trained.validation?.loss,
                                   validationAccuracy: trained.validation?.accuracy, split: TrainingRun.splitCounts(split),
                                   skipped: dataset.skipped.count, seconds: Date().timeIntervalSince(started))
        document.method = TrainingMethod.finetune.rawValue
        document.audit = audit
        document.ensemble = options.ensemble
        document.unfreeze = options.unfreeze
        document.trainImages = split.train.count
        document.epochsRun = config.training.epochs
        document.timings = timings.seconds
        try TrainingRun.writeTables(run: run, document: document, split: split, dataset: dataset,
                                    probabilities: trained.testProbabilities, decision: decision)
        return TrainingSummary(runDirectory: run.path, modelDirectory: modelDirectory, reportPath: reportPath,
                               metrics: metrics, validationAccuracy: trained.validation?.accuracy)
    }
}
