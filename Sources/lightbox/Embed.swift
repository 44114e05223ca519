import ArgumentParser
import Foundation
import LightboxCore
import LightboxEmbedding
import LightboxImaging
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
    var resize: ResizePolicyOption = .crop

    @Option(help: "Images per forward pass.")
    var batch = 16

    @Option(help: "Kernel threads (default: all cores).")
    var threads: Int?

    @Flag(help: "Fail (and write nothing) if any input cannot be decoded.")
    var strict = false

    @OptionGroup(title: "Shards and clusters")
    var executorOptions: ExecutorOptions

    @Argument(help: "Image files (PNG, JPEG, DICOM) or directories of them.")
    var inputs: [String] = []

    func validate() throws {
        guard batch >= 1 else { throw Terminal.Failure("--batch must be at least 1") }
        if let threads, threads < 1 { throw Terminal.Failure("--threads must be at least 1") }
        if inputs.isEmpty && executorOptions.pathsFrom == nil { throw ValidationError("give image files or directories") }
    }

    @OptionGroup var dicom: DICOMOptions

    func run() throws {
        dicom.install()
        try Terminal.run {
            if let threads { KernelThreads.set(threads) }
            if executorOptions.isSharded { return try runSharded() }
            let paths = try ImageFiles.expand(inputs)
            guard !paths.isEmpty else { throw Terminal.Failure("no PNG, JPEG or DICOM files found in \(inputs.joined(separator: " "))") }
            let embedder = try ImageEmbedder.pretrained(policy: ResizePolicy(rawValue: resize.rawValue)!)
            let progress = Terminal.Progress("embedding")
            let result = try embedder.embed(paths: paths, batchSize: batch, progress: progress.update)
            for failure in result.failures { Terminal.note("skipped \(failure)") }
            if result.paths.isEmpty || (strict && !result.failures.isEmpty) {
                throw Terminal.Failure("\(result.failures.count) of \(paths.count) images could not be decoded; nothing written")
            }
            try AtomicFile.write(NPYFile.encode(result.embeddings, shape: [result.paths.count, result.channels]), to: out)
            try AtomicFile.write(Data((result.paths.joined(separator: "\n") + "\n").utf8), to: out + ".txt")
            Terminal.note("wrote \(out) [\(result.paths.count), \(result.channels)]"
                          + (result.failures.isEmpty ? "" : "; skipped \(result.failures.count)"))
        }
    }

    /// The list every shard sees: --paths-from (written by the submitting run), else the inputs expanded.
    func inputList() throws -> [String] {
        if let list = executorOptions.pathsFrom {
            guard let text = try? String(contentsOfFile: list, encoding: .utf8) else { throw Terminal.Failure("cannot read \(list)") }
            return text.split(separator: "\n", omittingEmptySubsequences: true).map(String.init)
        }
        return try ImageFiles.expand(inputs)
    }

    func runSharded() throws {
        let options = executorOptions
        let paths = try inputList()
        guard !paths.isEmpty else { throw Terminal.Failure("no PNG or JPEG files found in \(inputs.joined(separator: " "))") }
        let policy = ResizePolicy(rawValue: resize.rawValue)!
        let backbone = try Backbone.pretrained(Preprocessor(policy: policy))
        let cacheDirectory = absolute(options.cacheDir ?? LightboxSettings.current.folder("embeddings"))
        let embedder = SampleEmbedder(embedder: backbone.embedder, cache: EmbeddingCache(directory: cacheDirectory),
                                      backbone: backbone.cacheKey)
        let folder = absolute(out) + ".shards"
        let job = try ShardedEmbedding(paths: paths, embedder: embedder, manifestDirectory: folder)

        if let shard = try options.single {
            let manifest = try job.run(shard, batchSize: batch, progress: Terminal.Progress("embedding shard \(shard)").update)
            Terminal.note("shard \(shard): \(manifest.done.count) embedded (\(manifest.cacheHits) from the cache), "
                          + "\(manifest.failures.count) skipped; wrote \(job.manifestPath(shard))")
            return
        }

        let count = options.shardCount
        var merged: ShardedEmbedding.Merged?
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
                try runOnSlurm(job, count: count, folder: folder, cacheDirectory: cacheDirectory)
            }
            do {
                merged = try job.merge(count)
                break
            } catch let error as ShardingError {
                // Cache entries lost since their shard ran (the merge forgot those shards): once more.
                guard case .incomplete = error else { throw error }
                Terminal.note("\(error); running them again")
            }
        }
        guard let result = merged else { throw Terminal.Failure("the shards' results keep disappearing from \(cacheDirectory)") }
        for failure in result.failures { Terminal.note("skipped \(failure)") }
        if result.paths.isEmpty || (strict && !result.failures.isEmpty) {
            throw Terminal.Failure("\(result.failures.count) of \(paths.count) images could not be decoded; nothing written")
        }
        try AtomicFile.write(NPYFile.encode(result.embeddings, shape: [result.paths.count, result.channels]), to: out)
        try AtomicFile.write(Data((result.paths.joined(separator: "\n") + "\n").utf8), to: out + ".txt")
        let now = result.shards.filter { ranNow.contains($0.index) }
        let hits = now.reduce(0) { $0 + $1.cacheHits }, computed = now.reduce(0) { $0 + $1.computed }
        Terminal.note("wrote \(out) [\(result.paths.count), \(result.channels)] from \(count) shard\(count == 1 ? "" : "s")"
                      + " (\(now.count) run now: \(computed) embeddings computed, \(hits) from the cache)"
                      + (result.failures.isEmpty ? "" : "; skipped \(result.failures.count)"))
    }

    /// Submits the shards not yet done as a Slurm array, follows it, resubmits failed shards.
    func runOnSlurm(_ job: ShardedEmbedding, count: Int, folder: String, cacheDirectory: String) throws {
        let slurm = SlurmArray(options: executorOptions.slurmOptions, environment: ProcessInfo.processInfo.environment)
        slurm.note = Terminal.note
        try slurm.checkCommands()
        let pending = try job.pending(count).map(\.index)
        guard !pending.isEmpty else { return }
        // Every task reads the same list, written once here.
        let list = (folder as NSString).appendingPathComponent("inputs.txt")
        try AtomicFile.write(Data((job.paths.joined(separator: "\n") + "\n").utf8), to: list)
        let script = (folder as NSString).appendingPathComponent("embed-job.sh")
        let arguments = ["embed", "--out", absolute(out), "--paths-from", list, "--cache-dir", cacheDirectory,
                         "--resize", resize.rawValue, "--batch", String(batch)]
        try AtomicFile.write(Data(SlurmBatchScript.make(executable: SlurmBatchScript.currentExecutable, arguments: arguments,
                                                        shards: count, description: "lightbox embed of \(job.paths.count) images into \(out)").utf8),
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
                          print("slurm job \(id): shards \(SlurmArray.arraySpec(shards)) of \(count)")
                          fflush(stdout)
                      },
                      tick: {
                          let done = (0..<count).filter { FileManager.default.fileExists(atPath: job.manifestPath(try! Shard(index: $0, count: count))) }.count
                          if done != shown { shown = done; progress.update(done, count) }
                      })
    }

    func absolute(_ path: String) -> String {
        URL(fileURLWithPath: path).standardizedFileURL.path
    }
}
