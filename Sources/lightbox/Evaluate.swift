import ArgumentParser
import Foundation
import LightboxCore
import LightboxKernels
import LightboxWorkflows
import LightboxHead
import LightboxInterop

struct Evaluate: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Evaluate a trained model on a data set: metrics.json and per-image predictions.",
        discussion: "Every usable image of the data set counts (no split); when the model records the pictures it trained on, those among them are named in a warning and left out of the headline metrics (kept under all_pictures), and a data set of nothing but training pictures is refused. Not a diagnosis.")

    @Option(help: "The model bundle (a run's model/ folder, or a zip of it such as the Studio's download).")
    var model: String

    @OptionGroup var dataOptions: DataOptions

    @Option(help: "Where to write the metrics (JSON); predictions go beside it as NAME-predictions.csv.")
    var out = "metrics.json"

    @Option(help: "Positive class for sensitivity, specificity and ROC (default: COVID-19 when present).")
    var positive: String?

    @Flag(help: "Do not read or write the embedding cache.")
    var noCache = false

    @OptionGroup var dicom: DICOMOptions

    @OptionGroup var precisionOption: PrecisionOption

    @OptionGroup(title: "Shards and clusters")
    var executorOptions: ExecutorOptions

    func validate() throws {
        try executorOptions.validateForCommand(usesCache: !noCache)
    }

    func run() throws {
        try Terminal.run {
            try executorOptions.checkBeforeWork(settings: Lightbox.settings)
            try OutputPath.check(out, as: .file)
            try OutputPath.check(EvaluationRun.predictionsPath(for: out), as: .file)
            IdentificationOptions.installWarnings(dataOptions.identity)
            var request = EvaluationRun.Request(model: model, data: try dataOptions.selection(), output: out,
                                                settings: precisionOption.settings(Lightbox.settings))
            request.positiveClass = positive
            request.dicomWindow = dicom.window
            request.overrideDICOMWindow = dicom.override
            request.useCache = !noCache
            if executorOptions.isSharded { request.shards = embedOverShards }
            let outcome = try EvaluationRun.run(request, reporter: TerminalReporter())
            let m = outcome.metrics
            // With an overlap the headline is on the pictures the model did not train on (the warning above says how many it did).
            let which = (outcome.overlap?.nImages ?? 0) > 0 ? " not used in training" : ""
            var line = String(format: "%d images, %d patients%@: accuracy %.3f", m.nImages, m.nPatients, which, m.accuracy)
            if let auc = m.auc { line += String(format: ", AUC %.3f", auc) + Train.aucInterval(m) }
            if let se = m.sensitivity, let sp = m.specificity { line += String(format: ", sensitivity %.3f, specificity %.3f", se, sp) }
            print(line)
            print("metrics: \(out)")
            precisionOption.announce(defaultFallback: false)
        }
    }

    /// The model's work per picture over shards (here or on Slurm: the backbone's embeddings, or
    /// a fine-tuned ensemble's probabilities), filling the cache that the evaluation then reads:
    /// its metrics are a local run's, bit for bit. Returns the cache's folder.
    @Sendable func embedOverShards(_ trained: TrainedModel, _ pass: CachedPass, _ paths: [String]) throws -> String {
        let runner = ShardedEmbeddingRunner(options: executorOptions, settings: Lightbox.settings, model: model, trained: trained,
                                            pass: pass, folder: ShardedEmbeddingRunner.absolute(out) + ".shards",
                                            description: "lightbox evaluate of \(model) on \(paths.count) images")
        _ = try runner.runAll(paths)
        return runner.cacheDirectory
    }
}
