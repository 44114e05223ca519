import ArgumentParser
import Foundation
import LightboxModels
import LightboxData
import LightboxImaging
import LightboxKernels
import LightboxWorkflows
import LightboxInterop
import LightboxHead
import LightboxCore

struct Train: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Train a classifier on MobileNetV2 (fine-tuning by default, or the blog's head on frozen embeddings) and evaluate it on held-out patients.",
        discussion: """
            Writes RUN_DIR/metrics.json, predictions.csv, report.html, split.csv, skipped.csv, audit.json and the model \
            bundle RUN_DIR/model. Augmented copies are made from the training split only. \
            Educational and research software: the results are not a diagnosis.
            """)

    // The help lists the groups in this order: what to learn from, how to train, then DICOM
    // and cluster options, which most runs never need.
    @OptionGroup(title: "Data") var dataOptions: DataOptions
    @OptionGroup(title: "Training") var training: TrainArguments
    @OptionGroup(title: "Training") var precisionOption: PrecisionOption
    @OptionGroup(title: "Augmentation (training pictures only)") var augmentation: AugmentationArguments
    @OptionGroup(title: "DICOM") var dicom: DICOMOptions
    @OptionGroup(title: "Shortcut audit") var auditBox: AuditBoxOption
    @OptionGroup(title: "Shortcut audit") var locatorOption: LocatorOption
    @OptionGroup(title: "Shards and clusters") var executorOptions: ExecutorOptions

    /// A Slurm task of a cross-fitted run (written by the submitting run, with --shard K/N):
    /// train fold K's members from this job description, nothing else.
    @Option(help: .hidden)
    var foldJob: String?

    /// A fold task's threads (the batch script passes $SLURM_CPUS_PER_TASK).
    @Option(help: .hidden)
    var threads: Int?

    /// Every training option against its rule (TrainingOptionRules, as the Studio checks them):
    /// a usage error (exit 64) with the rule's message.
    func validate() throws {
        if foldJob != nil {
            guard executorOptions.shard != nil else { throw ValidationError("--fold-job needs --shard K/N (the fold to train, from 0)") }
            try ThreadOption.validate(threads)
            return
        }
        if threads != nil { throw ValidationError("--threads is for a fold task (--fold-job)") }
        var probe = try TrainingConfiguration(data: "-", output: "-", settings: Lightbox.settings)
        try apply(to: &probe)
        try executorOptions.validateForCommand(usesCache: !training.noCache)
        if probe.crop == .lungs && executorOptions.isSharded { throw ValidationError(ShardedEmbeddingRunner.cropRefusal) }
    }

    /// Sets the training options on `config`, checked against their rules.
    func apply(to config: inout TrainingConfiguration) throws {
        do {
            try training.set(on: &config)
            augmentation.set(on: &config)
            // One locator finds the lungs for the crop and for the audit.
            config.lungLocator = locatorOption.locator
            config.auditBox = auditBox.box
            try TrainingOptionRules.validate(config)
        } catch let e as TrainingOptionError {
            throw ValidationError(e.description)
        }
    }

    func run() throws {
        if let foldJob { return try runFoldTask(foldJob) }
        try Terminal.run {
            let settings = precisionOption.settings(Lightbox.settings)
            let formatter = DateFormatter()
            formatter.dateFormat = "yyyyMMdd-HHmmss"
            let output = training.out ?? "runs/run-\(formatter.string(from: Date()))"
            // Before the data is read or downloaded: a run that cannot be written is refused now, not once trained.
            try OutputPath.check(output, as: .folder)
            try executorOptions.checkBeforeWork(settings: settings)
            let data = try dataOptions.resolvedPath
                ?? PublicDataset.ensure(url: settings.dataURL, directory: PublicDataset.directory(home: settings.home), log: Terminal.note)
            var config = try TrainingConfiguration(data: data, output: output, settings: settings)
            config.source = dataOptions.kind
            config.covid = try dataOptions.covidOptions
            config.labels = dataOptions.labels
            config.identity = dataOptions.identity
            IdentificationOptions.installWarnings(dataOptions.identity)
            try apply(to: &config)
            config.dicomWindow = dicom.resolved
            config.useCache = !training.noCache
            if auditBox.box == .lungs {
                config.locator = try locatorOption.load()
                config.locatorName = locatorOption.name
            }
            if training.backbone.hasPrefix("tm:") {
                config.teachableMachineBackbone = String(training.backbone.dropFirst(3))
            } else if training.backbone != "mobilenet_v2" {
                throw ValidationError("--backbone takes mobilenet_v2 or tm:PATH (got '\(training.backbone)')")
            }

            var distributor: PictureWorkDistributor?
            if executorOptions.isSharded {
                guard config.teachableMachineBackbone == nil else { throw ValidationError("--backbone tm:PATH is trained on one machine for now") }
                let slurm = executorOptions.executor == .slurm
                if config.method == .head {
                    config.cacheDirectory = try embedOverShards(config)
                    if config.crossFits {
                        Terminal.note("cross-fitting: the \(config.folds) folds' heads train here (seconds each); only the embeddings went to the shards")
                    }
                } else {
                    let run = ShardedEmbeddingRunner.absolute(config.output)
                    let folds = slurm && config.crossFits
                    distributor = ShardedPictureWork(options: executorOptions, settings: settings, folder: run + ".frozen.shards",
                                                     run: config.output,
                                                     folds: folds ? SlurmFoldTraining(options: executorOptions, folder: run + ".folds", run: config.output) : nil)
                    if folds {
                        Terminal.note("fine-tuning: each of the \(config.folds) folds' members trains as its own Slurm array task (\(run).folds); "
                                      + "the frozen modules' work on the scored images goes to the shards")
                    } else {
                        Terminal.note("fine-tuning: the frozen modules' work on the validation and test images goes to the shards; "
                                      + "the training steps run here (each sees freshly augmented pictures)"
                                      + (config.crossFits ? "; --executor slurm would train each fold as its own array task" : ""))
                    }
                }
            }
            let summary = try TrainingRun.run(config, reporter: TerminalReporter(), distributor: distributor)
            Terminal.StatusLine.shared.close()
            let m = summary.metrics
            print("report: \(summary.reportPath)")
            print("model:  \(summary.modelDirectory)")
            let name = summary.evaluation == "out-of-fold" ? "out-of-fold, \(summary.folds) folds" : "test"
            print(Self.metricsLine(name, m))
            if summary.folds > 1 {
                let aucs = summary.foldAUCs.map { $0.map { String(format: "%.3f", $0) } ?? "n/a" }.joined(separator: ", ")
                print("fold AUCs: \(aucs) (the shipped model averages all \(config.members) members)")
            }
            if let test = summary.heldOutTest { print(Self.metricsLine("held-out test, whole ensemble", test)) }
            if let note = summary.operatingPointNote { print("operating point: \(note)") }
            precisionOption.announce(defaultFallback: true)
            print("Educational and research software: not a diagnosis.")
        }
    }

    /// A Slurm task of a cross-fitted fine-tuning run: trains fold K's members (`--shard K/N`)
    /// from the job file and writes them atomically beside it, as `fold-(K+1)-of-N.safetensors`.
    func runFoldTask(_ path: String) throws {
        try Terminal.run {
            let settings = threads.map { Lightbox.settings.with(threads: $0) } ?? Lightbox.settings
            KernelThreads.setForCurrentThread(settings.threads)
            guard let shard = try executorOptions.single else { throw ValidationError("--fold-job needs --shard K/N") }
            let job = try FineTuneFoldJob.read(from: path)
            guard shard.count == job.folds else {
                throw Terminal.Failure("--shard \(shard): \(path) describes \(job.folds) folds, not \(shard.count)")
            }
            let result = try job.train(fold: shard.index, settings: settings, reporter: TerminalReporter())
            let out = ((path as NSString).deletingLastPathComponent as NSString)
                .appendingPathComponent(FineTuneFoldResult.fileName(fold: shard.index, of: job.folds))
            try result.write(to: out)
            Terminal.note("fold \(shard.index + 1) of \(job.folds): \(result.members.count) member(s) trained in "
                          + String(format: "%.1f", result.seconds) + " s on \(settings.threads) thread(s); wrote \(out)")
        }
    }

    /// One line of metrics: accuracy, AUC with its interval (the headline's: none below five
    /// patients in a class, as the report says), sensitivity and specificity at the threshold used.
    static func metricsLine(_ name: String, _ m: ClassificationMetrics) -> String {
        var line = String(format: "%@ (%d images, %d patients): accuracy %.3f", name, m.nImages, m.nPatients, m.accuracy)
        if let auc = m.auc { line += String(format: ", AUC %.3f", auc) + aucInterval(m) }
        if let p = m.positiveClass, let se = m.sensitivity, let sp = m.specificity {
            line += String(format: ", sensitivity (%@) %.3f, specificity %.3f", p, se, sp)
            if let t = m.threshold { line += String(format: " at threshold %.3f", t) }
        }
        return line
    }

    /// The AUC's interval as the headline words it (metrics.json's `headline`): " [95% CI a-b]",
    /// or the reason there is none (fewer than five patients in a class); "" without an AUC.
    static func aucInterval(_ m: ClassificationMetrics) -> String {
        guard m.auc != nil, let figure = Headline(metrics: m, scope: "scored", shortcut: nil).figures.first(where: { $0.key == "auc" }) else { return "" }
        if let ci = figure.interval { return String(format: " [95%% CI %.3f-%.3f]", ci[0], ci[1]) }
        return figure.noInterval.map { " [\($0)]" } ?? ""
    }

    /// The head method's embeddings of the data set's pictures over shards (here or on Slurm),
    /// into the cache the run then reads: the run is a local run's, bit for bit. Augmented
    /// copies are drawn and embedded here, as the run goes. Returns the cache's folder.
    func embedOverShards(_ config: TrainingConfiguration) throws -> String {
        let dataset = try DatasetLoader.load(config.data, kind: config.source, covidOptions: config.covid, labels: config.labels,
                                             saltFolder: config.settings.home)
        let paths = dataset.images.map(\.path)
        let job = ShardJob(work: .backbone(resize: config.resize, equalization: config.equalization), dicomWindow: config.dicomWindow,
                           precision: config.settings.arithmetic.precision)
        let runner = try ShardedEmbeddingRunner(options: executorOptions, settings: config.settings, job: job,
                                            folder: ShardedEmbeddingRunner.absolute(config.output) + ".shards",
                                            description: "lightbox train: embeddings of \(paths.count) images for \(config.output)")
        _ = try runner.runAll(paths)
        return runner.cacheDirectory
    }
}
