import ArgumentParser
import Foundation
import LightboxCore
import LightboxData
import LightboxEmbedding
import LightboxImaging
import LightboxInterop
import LightboxKernels
import LightboxModels
import LightboxWorkflows

struct Embed: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Turn images into 1280-value MobileNetV2 embeddings (a float32 .npy and a list of paths).",
        discussion: """
            Writes FILE.npy of shape [N, 1280] in the order of the inputs (directories expanded \
            recursively, sorted) and FILE.npy.txt listing the embedded paths, one per line. \
            Files that cannot be decoded are reported on stderr and left out of both; the exit \
            code is non-zero if none could be embedded, or with --strict if any could not.

            With --shards N the list is split into N contiguous shards that fill the embedding \
            cache (--cache-dir) and write manifests in FILE.npy.shards/; the shards are merged into \
            exactly the files a plain run writes. --executor slurm runs them as a Slurm job array \
            (the cache, FILE and this executable must be on a file system the nodes share); a rerun \
            after an interruption does only the shards not yet done.
            """)

    @Option(help: "Output .npy file.")
    var out: String

    @Option(help: "How a picture becomes square: crop (centre square), pad (keep the whole picture, pad with black), stretch.")
    var resize: ResizePolicy = .crop

    @Option(help: "Images per forward pass.")
    var batch = 16

    @Option(help: "Kernel threads (default: all cores).")
    var threads: Int?

    @Flag(help: "Fail (and write nothing) if any input cannot be decoded.")
    var strict = false

    @OptionGroup(title: "Shards and clusters")
    var executorOptions: ExecutorOptions

    /// A Slurm task: what to compute, as the submitting command described it (`ShardJob`).
    @Option(name: .customLong("job"), help: .hidden)
    var jobFile: String?

    /// By hand: embed with this model bundle's backbone (a head model's evaluate or predict work).
    @Option(help: .hidden)
    var backboneOf: String?

    /// By hand: cache a model's ensemble probabilities (any other model's evaluate or predict work).
    @Option(help: .hidden)
    var probabilitiesOf: String?

    /// By hand: the output of MobileNetV2's features.0 through this module (the frozen ones of
    /// train --method finetune), with --resize and --equalize.
    @Option(help: .hidden)
    var frozenThrough: Int?

    /// By hand: the contrast equalisation the pictures get (none, clahe, histogram).
    @Option(help: .hidden)
    var equalize = "none"

    @Argument(help: "Image files (PNG, JPEG, DICOM) or directories of them.")
    var inputs: [String] = []

    func validate() throws {
        guard batch >= 1 else { throw Terminal.Failure("--batch must be at least 1") }
        try ThreadOption.validate(threads)
        if inputs.isEmpty && executorOptions.pathsFrom == nil { throw ValidationError("give image files or directories") }
        if jobFile != nil, precisionOption.precision != nil { throw ValidationError("--precision is the job file's (--job) for a shard task") }
    }

    @OptionGroup var dicom: DICOMOptions

    @OptionGroup var identification: IdentificationOptions

    @OptionGroup var precisionOption: PrecisionOption

    func run() throws {
        try Terminal.run {
            IdentificationOptions.installWarnings(identification.identifyBy ?? .path)
            // --threads: this command's run context, passed down (nothing process-wide is rewritten
            // but OpenMP's own setting for this thread).
            let base = threads.map { Lightbox.settings.with(threads: $0) } ?? Lightbox.settings
            // A Slurm task computes in its job's precision (`ShardJob.makeEmbedder`).
            let settings = jobFile == nil ? precisionOption.settings(base) : base
            try checkOutputs(settings: settings)
            KernelThreads.setForCurrentThread(settings.threads)
            if executorOptions.isSharded { return try runSharded(settings: settings) }
            let paths = try ImageFiles.expand(inputs)
            guard !paths.isEmpty else { throw Terminal.Failure("no PNG, JPEG or DICOM files found in \(inputs.joined(separator: " "))") }
            let embedder = try ImageEmbedder.pretrained(policy: resize, settings: settings,
                                                        dicomWindow: dicom.resolved)
            let progress = Terminal.Progress("embedding")
            let result = try embedder.embed(paths: paths, batchSize: batch, progress: progress.update)
            try write(result.embeddings, channels: result.channels, paths: result.paths, failures: result.failures.map { "\($0)" },
                      of: paths.count)
            precisionOption.announce(defaultFallback: false)
        }
    }

    /// What this run writes, checked before any work (`OutputPath`): a shard task only its
    /// manifest into OUT.shards, any other run FILE.npy and FILE.npy.txt (and OUT.shards when sharded).
    func checkOutputs(settings: LightboxSettings) throws {
        try executorOptions.checkBeforeWork(settings: settings)
        let shards = ShardedEmbeddingRunner.absolute(out) + ".shards"
        let single = try executorOptions.single
        if single != nil { return try OutputPath.check(shards, as: .folder) }
        try OutputPath.check(out, as: .file)
        try OutputPath.check(out + ".txt", as: .file)
        if executorOptions.isSharded { try OutputPath.check(shards, as: .folder) }
    }

    /// The list every shard sees: --paths-from (written by the submitting run), else the inputs expanded.
    func inputList() throws -> [String] {
        if let list = executorOptions.pathsFrom {
            guard let text = try? String(contentsOfFile: list, encoding: .utf8) else { throw Terminal.Failure("cannot read \(list)") }
            let paths = text.split(separator: "\n", omittingEmptySubsequences: true).map(String.init)
            try FileNames.check(paths)
            return paths
        }
        return try ImageFiles.expand(inputs)
    }

    func runSharded(settings: LightboxSettings) throws {
        let paths = try inputList()
        guard !paths.isEmpty else { throw Terminal.Failure("no PNG, JPEG or DICOM files found in \(inputs.joined(separator: " "))") }
        let folder = ShardedEmbeddingRunner.absolute(out) + ".shards", description = "lightbox embed of \(paths.count) images into \(out)"
        let job = try jobFile.map(ShardJob.read(from:)) ?? ShardJob(work: try manualWork(), dicomWindow: dicom.resolved, batch: batch,
                                                                                  precision: settings.arithmetic.precision)
        let runner = try ShardedEmbeddingRunner(options: executorOptions, settings: settings, job: job, folder: folder,
                                                description: description)
        if let shard = try executorOptions.single { return try runner.runOne(shard, paths: paths) }
        let result = try runner.runAll(paths)
        try write(result.embeddings, channels: result.channels, paths: result.paths, failures: result.failures, of: paths.count)
    }

    /// FILE.npy and FILE.npy.txt (the pictures as --identify-by names them), the same from a plain
    /// run and from merged shards: each skipped file noted, nothing written when none (or, with
    /// --strict, not all) could be embedded.
    func write(_ embeddings: [Float], channels: Int, paths: [String], failures: [String], of total: Int) throws {
        let names = PictureNames(identification.identifyBy ?? .path, paths: paths, digests: [:], threads: Lightbox.settings.threads)
        // Each failure begins with its picture's path ("PATH: problem").
        for failure in failures { Terminal.note("skipped \(names.renamingLeadingPath(failure))") }
        if paths.isEmpty || (strict && !failures.isEmpty) {
            throw Terminal.Failure("\(failures.count) of \(total) images could not be decoded; nothing written")
        }
        try AtomicFile.write(NPYFile.encode(embeddings, shape: [paths.count, channels]), to: out)
        try AtomicFile.write(Data((paths.map(names.name).joined(separator: "\n") + "\n").utf8), to: out + ".txt")
        Terminal.note("wrote \(out) [\(paths.count), \(channels)]" + (failures.isEmpty ? "" : "; skipped \(failures.count)"))
    }

    /// The work asked for with flags, by hand (a Slurm task reads its job file, `--job`, instead).
    func manualWork() throws -> ShardWork {
        let equalization = try TrainingOptionRules.parseEqualization(equalize)
        if let model = probabilitiesOf { return .modelProbabilities(model: ShardedEmbeddingRunner.absolute(model)) }
        if let model = backboneOf { return .modelBackbone(model: ShardedEmbeddingRunner.absolute(model)) }
        if let last = frozenThrough {
            let ends = MobileNetV2Architecture.standard.frozenEnds
            guard ends.contains(last) else { throw Terminal.Failure("--frozen-through takes a module from \(ends.lowerBound) to \(ends.upperBound)") }
            return .frozenModules(through: last, resize: resize, equalization: equalization)
        }
        return .backbone(resize: resize, equalization: equalization)
    }
}
