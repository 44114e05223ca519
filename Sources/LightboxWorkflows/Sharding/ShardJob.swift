import Foundation
import LightboxCore
import LightboxImaging
import LightboxInterop
import LightboxKernels
import LightboxModels

/// What each picture of a sharded job becomes, as a value rather than command-line flags.
public enum ShardWork: Codable, Sendable, Equatable {
    /// The pretrained MobileNetV2's pooled embedding, with this preprocessing (`embed`, and the
    /// head method's training pictures).
    case backbone(resize: ResizePolicy, equalization: Equalization)
    /// The embedding of a model bundle's backbone, with its preprocessing: what its members read
    /// when they read only that (evaluate and predict of a head model).
    case modelBackbone(model: String)
    /// A model bundle's members' mean probabilities (evaluate and predict of any other model).
    case modelProbabilities(model: String)
    /// MobileNetV2's features.0 through `through`, the whole output map (fine-tuning's held-out pictures).
    case frozenModules(through: Int, resize: ResizePolicy, equalization: Equalization)

    /// The work per picture of a model already built from the bundle at `model`: its backbone's
    /// embedding when its members read only that (the cache entries training made serve
    /// again), else its probabilities.
    public static func of(model: String, _ pass: CachedPass) -> ShardWork {
        switch pass.output {
        case .backboneEmbedding: .modelBackbone(model: model)
        case .probabilities: .modelProbabilities(model: model)
        }
    }
}

/// A sharded job's description: the work per picture, the DICOM window, the batch size and the
/// precision. The
/// command that splits a list writes it into the shards folder (`job.json`); every Slurm task
/// reads it back (`lightbox embed --job FILE --shard K/N`) and builds the same embedder from it
/// with `makeEmbedder(settings:)`. The CLI, the workflows and the Studio describe shard work only with
/// this type.
public struct ShardJob: Codable, Sendable, Equatable {
    public static let fileName = "job.json"
    public var work: ShardWork
    public var dicomWindow: DICOMWindow
    public var batch: Int
    /// What the submitting command computes in; every task computes the same (bf16 on a node
    /// without AVX-512 BF16: emulated, the same values). Job files without it: fp32.
    public var precision: Precision

    public init(work: ShardWork, dicomWindow: DICOMWindow, batch: Int = 16, precision: Precision = .fp32) {
        self.work = work
        self.dicomWindow = dicomWindow
        self.batch = batch
        self.precision = precision
    }

    private enum CodingKeys: String, CodingKey { case work, dicomWindow, batch, precision }

    public init(from decoder: Decoder) throws {
        let values = try decoder.container(keyedBy: CodingKeys.self)
        work = try values.decode(ShardWork.self, forKey: .work)
        dicomWindow = try values.decode(DICOMWindow.self, forKey: .dicomWindow)
        batch = try values.decode(Int.self, forKey: .batch)
        precision = try values.decodeIfPresent(Precision.self, forKey: .precision) ?? .fp32
    }

    /// The embedder this job's pictures go through and the name its outputs are cached under,
    /// built from the description alone, as every Slurm task builds it.
    /// `settings`: the task's own run context (weights folder, pixel limit, threads); its
    /// arithmetic is replaced by the job's precision.
    public func makeEmbedder(settings taskSettings: LightboxSettings) throws -> (embedder: ImageEmbedder, cacheKey: String) {
        let settings = taskSettings.with(arithmetic: PrecisionChoice.choose(requested: precision).arithmetic)
        let decoder = ImageDecoder(maxPixels: settings.maxPixels, dicomWindow: dicomWindow)
        let weightsFolder = PretrainedMobileNetV2.folder(in: settings)
        switch work {
        case .backbone(let resize, let equalization):
            let backbone = try Backbone.pretrained(Preprocessor(policy: resize, equalization: equalization), weightsFolder: weightsFolder,
                                                   decoder: decoder, parallelism: settings.threads, arithmetic: settings.arithmetic)
            return (backbone.embedder, backbone.cacheKey)
        case .modelBackbone(let model), .modelProbabilities(let model):
            var bundle = try ModelBundle.read(from: model)
            // The window its command resolved against the model (and checked there).
            try bundle.apply(dicomWindow: dicomWindow, override: true, model: model)
            let trained = try TrainedModel(bundle: bundle, settings: settings)
            let pass = trained.cachedPass(baseWeightsSHA256: bundle.backbone.weightsSHA256)
            guard ShardWork.of(model: model, pass) == work else {
                let asked = pass.output == .backboneEmbedding ? "its probabilities" : "its backbone's embedding"
                throw WeightsError("\(model): this model's work per picture is \(pass.description), but the job (its job file, or --backbone-of or --probabilities-of) asks for \(asked)")
            }
            return (pass.embedder, pass.cacheKey)
        case .frozenModules(let through, let resize, let equalization):
            let ends = MobileNetV2Architecture.standard.frozenEnds
            guard ends.contains(through) else {
                throw WeightsError("frozen modules run through a module from \(ends.lowerBound) to \(ends.upperBound), not \(through)")
            }
            let maps = FrozenFeatureMaps(network: try TrainedModel.frozenNetwork(weights: try PretrainedMobileNetV2.load(from: weightsFolder),
                                                                                  firstModule: through + 1, parallelism: settings.threads,
                                                                                  arithmetic: settings.arithmetic),
                                         firstTrainedModule: through + 1, weightsSHA256: PretrainedMobileNetV2.installedDigest(in: weightsFolder) ?? "")
            return (ImageEmbedder(network: maps, preprocessor: Preprocessor(policy: resize, equalization: equalization), decoder: decoder,
                                  threads: settings.threads),
                    maps.cacheKey)
        }
    }

    /// Reads a job file; a clear error naming it when it is not one.
    public static func read(from path: String) throws -> ShardJob {
        guard let data = FileManager.default.contents(atPath: path) else { throw WeightsError("\(path): cannot read the shard job file") }
        do {
            let job = try JSONDecoder().decode(ShardJob.self, from: data)
            guard (1...4096).contains(job.batch) else { throw WeightsError("batch \(job.batch) is not 1-4096") }
            return job
        } catch {
            throw WeightsError("\(path): not a shard job (\(error))")
        }
    }

    /// The job as written into a shards folder.
    public func encoded() throws -> Data {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.prettyPrinted, .sortedKeys]
        return try encoder.encode(self)
    }
}
