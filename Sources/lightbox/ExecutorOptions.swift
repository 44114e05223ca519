import ArgumentParser
import Foundation
import LightboxCore
import LightboxEmbedding
import LightboxWorkflows

/// Where a shardable command's work runs: here (`local`) or as a Slurm job array (`slurm`).
enum ExecutorKind: String, CaseIterable, ExpressibleByArgument {
    case local, slurm
}

/// The options that split a command's inputs into shards and say where the shards run; shared
/// by the commands that can outgrow one machine: embed, evaluate, predict and train (which hand
/// the backbone's work to the shards through the embedding cache). With `--executor slurm`, a
/// cross-fitted fine-tuning run also trains each fold's members as a task of its own; `--shards N`
/// here (local) never splits training: the folds train together in this process, which shares
/// each epoch's frozen work among them.
struct ExecutorOptions: ParsableArguments {
    @Option(help: "Split the inputs (after directory expansion and sorting) into N contiguous shards; a rerun does only the shards not yet done.")
    var shards: Int?

    @Option(help: ArgumentHelp("Run only shard K of N (K from 0 to N-1, as $SLURM_ARRAY_TASK_ID counts): fill the cache and write the shard's manifest, no output file.",
                               valueName: "K/N"))
    var shard: String?

    @Option(help: "The embedding cache (shared by every shard; on a shared file system for Slurm). Default: $LIGHTBOX_HOME/embeddings.")
    var cacheDir: String?

    @Option(help: "Where the shards run: local (one after another, here) or slurm (a job array submitted with sbatch; train also runs each fold of a cross-fitted fine-tuning run as an array task).")
    var executor: ExecutorKind = .local

    @Option(help: "slurm: the partition (sbatch --partition).")
    var partition: String?

    @Option(help: "slurm: each task's time limit (sbatch --time), e.g. 30:00.")
    var time: String?

    @Option(help: "slurm: cores per task (sbatch --cpus-per-task); the task uses them as its kernel threads. Default: 1.")
    var cpusPerTask: Int?

    @Option(help: "slurm: memory per task (sbatch --mem), e.g. 4G.")
    var mem: String?

    @Option(name: .customLong("sbatch-arg"), parsing: .unconditionalSingleValue,
            help: ArgumentHelp("slurm: one more sbatch argument, as it is (repeatable), e.g. --sbatch-arg --account=lab.", valueName: "ARG"))
    var sbatchArgs: [String] = []

    @Option(help: "slurm: resubmissions of shards whose tasks failed or were cancelled.")
    var retries = 2

    @Option(help: ArgumentHelp("slurm: stop following the job once every unfinished task has been held or blocked by a limit it can never meet for this long (then release or cancel it, and rerun).",
                               valueName: "SECONDS"))
    var heldTimeout: Double = 120

    /// The expanded input list, one path a line, written by the submitting run for its tasks.
    @Option(help: .hidden)
    var pathsFrom: String?

    func validate() throws {
        if let shards, shards < 1 { throw ValidationError("--shards must be at least 1") }
        if let shard {
            let parsed = try parsedShard(shard)
            if let shards, shards != parsed.count { throw ValidationError("--shard \(shard) and --shards \(shards) disagree") }
            if executor == .slurm { throw ValidationError("--shard runs one shard here; --executor slurm submits them all") }
        }
        if let cpusPerTask, cpusPerTask < 1 { throw ValidationError("--cpus-per-task must be at least 1") }
        if retries < 0 { throw ValidationError("--retries must be 0 or more") }
        if !(heldTimeout >= 0) { throw ValidationError("--held-timeout must be 0 or more seconds") }
        if executor == .local, partition != nil || time != nil || cpusPerTask != nil || mem != nil || !sbatchArgs.isEmpty {
            throw ValidationError("--partition, --time, --cpus-per-task, --mem and --sbatch-arg need --executor slurm")
        }
    }

    private func parsedShard(_ text: String) throws -> Shard {
        do { return try Shard(parsing: text) } catch { throw ValidationError("--shard: \(error)") }
    }

    /// The checks of a command that hands its backbone's work to shards (evaluate, predict,
    /// train): running one shard by hand is embed's job, and the shards hand their embeddings
    /// over through the cache, so a command that does without it cannot use them.
    func validateForCommand(usesCache: Bool = true) throws {
        if shard != nil { throw ValidationError("--shard K/N is for a task of embed; give --shards N (and --executor) here") }
        if isSharded && !usesCache { throw ValidationError("--no-cache: shards hand their embeddings over through the cache") }
    }

    /// The cache the shards fill: --cache-dir, else the run's; absolute, as every node names it.
    func cacheDirectory(settings: LightboxSettings) -> String {
        ShardedEmbeddingRunner.absolute(cacheDir ?? settings.folder("embeddings"))
    }

    /// Before any work, with --executor slurm: the folders every task's batch script names
    /// besides the command's outputs (the cache, this executable) must pass `FileNames`.
    func checkBeforeWork(settings: LightboxSettings) throws {
        guard executor == .slurm else { return }
        try FileNames.check([cacheDirectory(settings: settings), SlurmBatchScript.currentExecutable])
    }

    /// The one shard to run (--shard), if any.
    var single: Shard? { get throws { try shard.map(parsedShard) } }

    /// Whether the work goes through shards and the cache (any sharding option given).
    var isSharded: Bool { shards != nil || shard != nil || cacheDir != nil || executor == .slurm || pathsFrom != nil }

    /// The number of shards (1 unless given).
    var shardCount: Int { (try? single)?.count ?? shards ?? 1 }

    var slurmOptions: SlurmOptions {
        SlurmOptions(partition: partition, time: time, cpusPerTask: cpusPerTask, memory: mem, extraArguments: sbatchArgs,
                     retries: retries, heldTimeout: heldTimeout)
    }
}
