import Foundation
import LightboxCore
import LightboxEmbedding
import LightboxInterop
import LightboxModels
import LightboxWorkflows

/// Fills the embedding cache for a list of pictures over shards, here or as a Slurm job array,
/// and merges them: the work `embed` does, and the part of `evaluate`, `predict` and
/// `train --method head` worth a cluster (the backbone's forward passes). Those commands then
/// run as usual and find every embedding in the cache, so their output is exactly a local run's.
///
/// A Slurm task reruns `lightbox embed --job FOLDER/job.json --shard K/N` with the same list
/// and job description (a `ShardJob`, both written once into the shards folder) and cache.
struct ShardedEmbeddingRunner {
    var options: ExecutorOptions
    /// The run context: the default cache folder, and what the embedder is built with.
    var settings: LightboxSettings
    /// What each picture becomes, as every task reads it.
    var job: ShardJob
    /// The job's embedder, built here once (from the job, or from a model already built), and
    /// the name its outputs are cached under.
    var embedder: ImageEmbedder
    var cacheKey: String
    /// Where manifests, the list, the batch script, the job id and task logs go.
    var folder: String
    /// What the job is, for Slurm's job name and the batch script's comment.
    var description: String
    /// Where the "slurm job ID" line goes: standard output, unless that is reserved for JSON.
    var announce: (String) -> Void = { print($0); fflush(stdout) }

    var batch: Int { job.batch }

    /// The cache the shards fill: --cache-dir, else the run's.
    var cacheDirectory: String { options.cacheDirectory(settings: settings) }

    func sharding(_ paths: [String]) throws -> ShardedEmbedding {
        guard embedder.crop == nil else { throw Terminal.Failure(Self.cropRefusal) }
        let sampleEmbedder = SampleEmbedder(embedder: embedder, cache: EmbeddingCache(directory: cacheDirectory), backbone: cacheKey)
        return try ShardedEmbedding(paths: paths, embedder: sampleEmbedder, manifestDirectory: folder)
    }

    /// Runs one shard here (a Slurm task, or `--shard K/N` by hand).
    func runOne(_ shard: Shard, paths: [String]) throws {
        let job = try sharding(paths)
        let manifest = try job.run(shard, batchSize: batch, progress: Terminal.Progress("embedding shard \(shard)").update)
        Terminal.note("shard \(shard): \(manifest.done.count) embedded (\(manifest.cacheHits) from the cache), "
                      + "\(manifest.failures.count) skipped; wrote \(job.manifestPath(shard))")
    }

    /// Runs every shard not yet done (here, or on Slurm) and merges them in list order.
    func runAll(_ paths: [String]) throws -> ShardedEmbedding.Merged {
        // Nothing to run (evaluate's data has no picture of the model's classes): the command says why.
        guard !paths.isEmpty else {
            return ShardedEmbedding.Merged(embeddings: [], channels: embedder.network.embeddingChannels, paths: [], failures: [], shards: [])
        }
        let job = try sharding(paths)
        let count = options.shardCount
        var ranNow = Set<Int>()
        for _ in 0..<2 {
            let pending = try job.pending(count)
            ranNow.formUnion(pending.map(\.index))
            switch options.executor {
            case .local:
                for shard in pending {
                    try job.run(shard, batchSize: batch, progress: Terminal.Progress("embedding shard \(shard)").update)
                }
            case .slurm:
                try runOnSlurm(job, count: count)
            }
            do {
                let merged = try job.merge(count)
                let now = merged.shards.filter { ranNow.contains($0.index) }
                let hits = now.reduce(0) { $0 + $1.cacheHits }, computed = now.reduce(0) { $0 + $1.computed }
                Terminal.note("\(paths.count) pictures in \(count) shard\(count == 1 ? "" : "s") (\(now.count) run now: "
                              + "\(computed) embeddings computed, \(hits) from the cache)")
                return merged
            } catch let error as ShardingError {
                // Cache entries lost since their shard ran (the merge forgot those shards): once more.
                guard case .incomplete = error else { throw error }
                Terminal.note("\(error); running them again")
            }
        }
        throw Terminal.Failure("the shards' results keep disappearing from \(cacheDirectory)")
    }

    /// Submits the shards not yet done as a Slurm array, follows it, resubmits failed shards.
    func runOnSlurm(_ job: ShardedEmbedding, count: Int) throws {
        let slurm = SlurmArray(options: options.slurmOptions, environment: ProcessInfo.processInfo.environment)
        slurm.note = Terminal.note
        try slurm.checkCommands()
        let pending = try job.pending(count).map(\.index)
        guard !pending.isEmpty else { return }
        // Every task reads the same list, one path a line, written once here (names with a line
        // break were refused where they entered: FileNames).
        let list = (folder as NSString).appendingPathComponent("inputs.txt")
        try AtomicFile.write(Data((job.paths.joined(separator: "\n") + "\n").utf8), to: list)
        let script = (folder as NSString).appendingPathComponent("embed-job.sh")
        // The task's --out names the shards folder (OUT.shards): the manifests land here.
        let out = String(folder.dropLast(".shards".count))
        let jobDescription = (folder as NSString).appendingPathComponent(ShardJob.fileName)
        try AtomicFile.write(try self.job.encoded(), to: jobDescription)
        let arguments = ["embed", "--out", out, "--paths-from", list, "--cache-dir", cacheDirectory, "--job", jobDescription]
        try AtomicFile.write(Data(SlurmBatchScript.make(executable: SlurmBatchScript.currentExecutable, arguments: arguments,
                                                        shards: count, description: description).utf8),
                             to: script)
        chmod(script, 0o755)
        let jobFile = (folder as NSString).appendingPathComponent("slurm-job")
        let previous = (try? String(contentsOfFile: jobFile, encoding: .utf8))?.trimmingCharacters(in: .whitespacesAndNewlines)
        let progress = Terminal.Progress("shards done")
        var shown = -1
        try slurm.run(shards: pending, script: script, jobName: "lightbox-embed", logDirectory: (folder as NSString).appendingPathComponent("logs"),
                      resume: previous, isDone: { job.manifest(try! Shard(index: $0, count: count)) != nil },
                      submitted: { id, shards in
                          try? AtomicFile.write(Data((id + "\n").utf8), to: jobFile)
                          announce("slurm job \(id): shards \(SlurmArray.arraySpec(shards)) of \(count)")
                      },
                      tick: {
                          let done = (0..<count).filter { FileManager.default.fileExists(atPath: job.manifestPath(try! Shard(index: $0, count: count))) }.count
                          if done != shown { shown = done; progress.update(done, count) }
                      })
    }

    /// Why shards refuse a model, or a run, that crops pictures to their lungs.
    static let cropRefusal = "pictures cropped to their lungs (--crop lungs, or a model trained with it) are not worked on over shards or Slurm yet: leave out --shards and --executor"

    /// Paths as every node sees them: absolute, without `.` or `..`.
    static func absolute(_ path: String) -> String {
        URL(fileURLWithPath: path).standardizedFileURL.path
    }
}

extension ShardedEmbeddingRunner {
    /// Shards of `job`, its embedder built from the description (as each Slurm task builds it).
    init(options: ExecutorOptions, settings: LightboxSettings, job: ShardJob, folder: String, description: String) throws {
        let (embedder, cacheKey) = try job.makeEmbedder(settings: settings)
        self.init(options: options, settings: settings, job: job, embedder: embedder, cacheKey: cacheKey, folder: folder,
                  description: description)
    }

    /// Shards of a model bundle's work per picture (evaluate, predict), from the model already
    /// built from it (its `CachedPass`: the backbone's embedding, or the ensemble's probabilities).
    init(options: ExecutorOptions, settings: LightboxSettings, model: String, trained: TrainedModel, pass: CachedPass,
         folder: String, description: String) {
        self.init(options: options, settings: settings,
                  job: ShardJob(work: .of(model: Self.absolute(model), pass), dicomWindow: trained.decoder.dicomWindow,
                                precision: trained.arithmetic.precision),
                  embedder: pass.embedder, cacheKey: pass.cacheKey, folder: folder, description: description)
    }
}

/// A run's per-picture work (fine-tuning's frozen modules on its held-out pictures) over the
/// command's shards, here or on Slurm, through the cache in `folder`'s runner; and with
/// `--executor slurm`, a cross-fitted run's folds as a job array (`folds`).
struct ShardedPictureWork: PictureWorkDistributor {
    var options: ExecutorOptions
    /// The run context of the run it serves.
    var settings: LightboxSettings
    /// Where the shards' manifests, list, script and logs go.
    var folder: String
    /// The run it serves, for the job's description.
    var run: String
    /// Where a cross-fitted run's folds train: a Slurm array (`--executor slurm`), else nil (here).
    var folds: FoldTrainingExecutor?

    func outputs(of embedder: ImageEmbedder, cacheKey: String, work: ShardWork, paths: [String],
                 description: String) throws -> [Float] {
        let runner = ShardedEmbeddingRunner(options: options, settings: settings,
                                            job: ShardJob(work: work, dicomWindow: embedder.decoder.dicomWindow,
                                                          precision: embedder.network.arithmetic.precision),
                                            embedder: embedder, cacheKey: cacheKey, folder: folder,
                                            description: "lightbox train \(run): \(description)")
        let merged = try runner.runAll(paths)
        // These pictures all decoded once already (the run set aside those that do not).
        guard merged.paths == paths else {
            throw Terminal.Failure(merged.failures.first ?? "\(folder): the shards left out pictures the run needs")
        }
        return merged.embeddings
    }
}

/// A cross-fitted fine-tuning run's folds as a Slurm job array, one task a fold: the job
/// (`FineTuneFoldJob`) written once into `folder` (RUN_DIR.folds), each task running
/// `lightbox train --fold-job FOLDER/fold-job.json --shard K/N` and leaving its members in
/// `fold-(K+1)-of-N.safetensors`. Folds whose result is already there for this job are not run
/// again; tasks that end without their result are resubmitted (`--retries`); an interrupted
/// run's array (recorded in `slurm-job`) is followed by the next run while it still runs.
struct SlurmFoldTraining: FoldTrainingExecutor {
    var options: ExecutorOptions
    /// Absolute: the nodes read the job and write the results there.
    var folder: String
    /// The run it serves, for the job's description.
    var run: String
    /// Where the "slurm job ID" line goes.
    var announce: @Sendable (String) -> Void = { print($0); fflush(stdout) }

    func train(_ job: FineTuneFoldJob, reporter: Reporter) throws -> [FineTuneFoldResult] {
        let slurm = SlurmArray(options: options.slurmOptions, environment: ProcessInfo.processInfo.environment)
        slurm.note = Terminal.note
        try slurm.checkCommands()
        try FileManager.default.createDirectory(atPath: folder, withIntermediateDirectories: true)
        func file(_ name: String) -> String { (folder as NSString).appendingPathComponent(name) }
        let identity = try job.identity(), count = job.folds
        func result(_ k: Int) -> String { file(FineTuneFoldResult.fileName(fold: k, of: count)) }
        func isDone(_ k: Int) -> Bool { FineTuneFoldResult.existing(at: result(k), job: job, identity: identity, fold: k) != nil }

        let done = (0..<count).filter(isDone)
        if !done.isEmpty {
            Terminal.note("folds \(SlurmArray.arraySpec(done.map { $0 + 1 })) of \(count) already trained for this run (in \(folder)): not run again")
        }
        if done.count < count {
            let jobFile = file(FineTuneFoldJob.fileName)
            try AtomicFile.write(try job.encoded(), to: jobFile)
            let script = file("train-folds.sh")
            try AtomicFile.write(Data(try SlurmBatchScript.make(executable: SlurmBatchScript.currentExecutable,
                                                                arguments: ["train", "--fold-job", jobFile], shards: count,
                                                                description: "lightbox train \(run): the \(count) folds' members, one task a fold").utf8),
                                 to: script)
            chmod(script, 0o755)
            let jobIDFile = file("slurm-job")
            let previous = (try? String(contentsOfFile: jobIDFile, encoding: .utf8))?.trimmingCharacters(in: .whitespacesAndNewlines)
            let progress = Terminal.Progress("folds trained")
            var shown = -1
            do {
                try slurm.run(shards: Array(0..<count), script: script, jobName: "lightbox-train-fold", logDirectory: file("logs"),
                              resume: previous, isDone: isDone,
                              submitted: { id, folds in
                                  try? AtomicFile.write(Data((id + "\n").utf8), to: jobIDFile)
                                  announce("slurm job \(id): folds \(SlurmArray.arraySpec(folds.map { $0 + 1 })) of \(count) (array tasks \(SlurmArray.arraySpec(folds)))")
                              },
                              tick: {
                                  let finished = (0..<count).filter { FileManager.default.fileExists(atPath: result($0)) }.count
                                  if finished != shown { shown = finished; progress.update(finished, count) }
                              })
            } catch SlurmError.tasksFailed(let tasks, let states, let logs) {
                // Said in folds (from 1), as the run counts them, not in array tasks (from 0).
                let list = tasks.map { "\($0 + 1) (\(states[$0] ?? "no result"))" }.joined(separator: ", ")
                throw Terminal.Failure("folds \(list) of \(count) were not trained after the allowed retries; their tasks' logs are in \(logs) "
                                       + "(array task K trains fold K+1); a rerun trains only the folds still missing")
            } catch let error as SlurmError {
                throw Terminal.Failure(error.description.replacingOccurrences(of: "Slurm keeps shards", with: "Slurm keeps array tasks"))
            }
        }
        let results = try (0..<count).map { k in
            try FineTuneFoldResult.read(from: result(k), job: identity, fold: k, folds: count, expectMembers: job.perFold, epochs: job.epochs)
        }
        Terminal.note("the \(count) folds' members (\(job.perFold) a fold) read from \(folder)")
        return results
    }
}
