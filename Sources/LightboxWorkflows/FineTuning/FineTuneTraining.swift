import Foundation
import LightboxCore
import LightboxData
import LightboxHead
import LightboxImaging
import LightboxKernels
import LightboxModels

/// Fine-tuning's settings besides epochs, batch size, seed (which `TrainingOptions` holds)
/// and the ensemble's size (`TrainingConfiguration.members`).
public struct FineTuneOptions: Sendable, Equatable, Codable {
    /// Feature modules trained, counted from the end (5: features.14-18).
    public var unfreeze = 5
    public var backboneRate: Float = 3e-4
    public var headRate: Float = 1e-3
    public var weightDecay: Float = 0.01
    public var dropout: Float = 0.2
    public static let defaultEpochs = 6

    public init() {}

    /// The first trained module (1-18).
    public var firstModule: Int { MobileNetV2Architecture.standard.firstTrainedModule(training: unfreeze) }

    /// Where the network is cut: the last `unfreeze` modules trained (the option rules keep
    /// `unfreeze` within `MobileNetV2Architecture.trainableModuleCounts`).
    public var cut: MobileNetV2Architecture.Cut {
        MobileNetV2Architecture.Cut(firstTrained: firstModule, lastModule: MobileNetV2Architecture.standard.moduleNumbers.upperBound)
    }
}

/// What a fine-tuning run trains and scores: a pool of training pictures (each decoded once,
/// kept as 8-bit squares), the members (each trains on some of the pool, with its own seed),
/// the validation pictures whose loss every epoch reports (one split only; never used to choose
/// anything but the curves), and the pictures scored after training.
struct FineTunePlan {
    struct Member {
        /// The rows of `pool` the member trains on.
        var rows: [Int]
        var seed: UInt64
    }

    var pool: [LabeledImage]
    var members: [Member]
    var validation: [LabeledImage]
    var scored: [LabeledImage]
    /// Cross-fitting: each epoch draws one augmentation of every pool picture (from the run's
    /// seed), runs it through the frozen modules once, and every member that trains on the picture
    /// steps on that output. The frozen modules are about 40% of a member's work a picture, and
    /// each picture is in K-1 members' training, so this saves most of it. (One split keeps each
    /// member's own draws, as before cross-fitting existed.)
    var sharedEpochs: UInt64?
    /// Cross-fitting: the fold of every pool row (the pool is the folds' pictures, fold by fold)
    /// and the members per fold (the members are listed fold by fold); empty and 0 for one split.
    var foldOfRow: [Int] = []
    var perFold = 0

    /// One split: every member trains on the whole training split (seeds seed, seed+1, ...),
    /// validated on the validation split; the test split is scored.
    init(split: DatasetSplit, members: Int, seed: UInt64) {
        pool = split.train
        self.members = (0..<members).map { Member(rows: Array(split.train.indices), seed: seed &+ UInt64($0)) }
        validation = split.validation
        scored = split.test
        sharedEpochs = nil
    }

    /// Cross-fitting: `perFold` members for each fold k (seed + k * perFold + e), trained on every
    /// fold but k; every fold picture and the held-out test set are scored.
    init(crossFit: CrossFitSplit, perFold: Int, seed: UInt64) {
        pool = crossFit.foldImages
        let foldOfRow = crossFit.folds.indices.flatMap { k in [Int](repeating: k, count: crossFit.folds[k].count) }
        self.foldOfRow = foldOfRow
        self.perFold = perFold
        members = crossFit.folds.indices.flatMap { Self.foldMembers($0, foldOfRow: foldOfRow, perFold: perFold, seed: seed) }
        validation = []
        scored = crossFit.foldImages + crossFit.test
        sharedEpochs = seed
    }

    /// The members of fold `k` (what a run lists for that fold, and what a fold's own task
    /// trains): every pool row of the other folds, seeds seed + k * perFold + e.
    static func foldMembers(_ k: Int, foldOfRow: [Int], perFold: Int, seed: UInt64) -> [Member] {
        (0..<perFold).map { e in
            Member(rows: foldOfRow.indices.filter { foldOfRow[$0] != k }, seed: seed &+ UInt64(k * perFold + e))
        }
    }
}

/// Trains fine-tuned members (`FineTunePlan`): every pool picture is decoded once (kept as 8-bit
/// squares), then in every epoch of every member freshly augmented, run through the frozen
/// modules and used for one optimiser step of the member's trained modules and head.
/// Validation and scored pictures go through the frozen modules once.
enum FineTuneTraining {
    struct Result {
        var model: TrainedModel
        /// Per epoch, the members' mean training loss and accuracy and validation loss and accuracy.
        var history: [EpochRecord]
        /// The frozen modules' output for the plan's scored pictures (NHWC, in order), which the
        /// caller runs through the members that should score them.
        var scoredFrozen: [Float]
        /// The ensemble's probabilities on the validation pictures (where a one-split run chooses
        /// its operating point).
        var validationProbabilities: [Float]
        var validation: (loss: Double, accuracy: Double)?
    }

    /// With a `distributor`, the frozen modules' work on the validation and scored pictures is
    /// done by it (the shards of the command line). The training steps run here, unless the
    /// run cross-fits and the distributor has a fold executor (`PictureWorkDistributor.folds`,
    /// Slurm): then each fold's members train as a task of their own (`FineTuneFoldJob`), and
    /// the members and their epoch records are read back from the tasks' results. Their
    /// arithmetic is the same single-threaded arithmetic a run here uses, so the members are
    /// the same, bit for bit.
    /// `digests`: the files' content digests the run already read (for the fold job; read
    /// again when missing).
    static func train(_ plan: FineTunePlan, classes: [String], config: TrainingConfiguration, reporter: Reporter,
                      distributor: PictureWorkDistributor? = nil, digests: [String: Swift.Result<String, ImageDecodingError>] = [:],
                      checkpoint: () throws -> Void) throws -> Result {
        let options = config.fineTune, training = config.training
        let weightsFolder = PretrainedMobileNetV2.folder(in: config.settings)
        let weights = try PretrainedMobileNetV2.load(from: weightsFolder)
        let preprocessor = Preprocessor(policy: config.resize, equalization: config.equalization)
        let decoder = ImageDecoder(maxPixels: config.settings.maxPixels, dicomWindow: config.dicomWindow)
        let frozen = try TrainedModel.frozenNetwork(weights: weights, firstModule: options.firstModule, parallelism: config.settings.threads,
                                                    arithmetic: config.settings.arithmetic)
        let label = { (image: LabeledImage) in classes.firstIndex(of: image.label)! }
        let foldExecutor = plan.sharedEpochs == nil ? nil : distributor?.folds
        let crop = try config.lungCrop(reporter)
        guard crop == nil || distributor == nil else {
            throw WeightsError("--crop lungs runs on one machine for now: shards and Slurm tasks would see whole pictures")
        }

        reporter.note("fine-tuning: features.\(options.cut.trained.lowerBound)-\(options.cut.trained.upperBound) and a linear head, \(plan.members.count) member(s), \(training.epochs) epochs")
        // The fold tasks decode the pool themselves.
        let squares = foldExecutor != nil ? []
            : try decodePool(plan.pool.map(\.path), digests: nil, preprocessor: preprocessor, decoder: decoder, threads: config.settings.threads,
                             crop: crop)
        try checkpoint()
        let validationFrozen: [Float], scoredFrozen: [Float]
        if let distributor {
            let maps = FrozenFeatureMaps(network: frozen, firstTrainedModule: options.firstModule,
                                         weightsSHA256: PretrainedMobileNetV2.installedDigest(in: weightsFolder) ?? "")
            let heldOut = plan.validation.map(\.path) + plan.scored.map(\.path)
            var all = try distributor.outputs(of: ImageEmbedder(network: maps, preprocessor: preprocessor, decoder: decoder, threads: config.settings.threads),
                                              cacheKey: maps.cacheKey,
                                              work: .frozenModules(through: options.cut.frozen.upperBound, resize: config.resize,
                                                                   equalization: config.equalization),
                                              paths: heldOut,
                                              description: "frozen modules' output for the \(heldOut.count) validation and scored images")
            // The scored part is copied out and dropped from the whole, which becomes the
            // validation part: the held-out maps (75 KB a picture) are not held twice.
            let cut = plan.validation.count * maps.embeddingChannels
            scoredFrozen = Array(all[cut...])
            all.removeSubrange(cut...)
            validationFrozen = all
        } else {
            validationFrozen = try frozenFeatures(plan.validation.map(\.path), frozen: frozen, preprocessor: preprocessor, decoder: decoder,
                                                  crop: crop)
            scoredFrozen = try frozenFeatures(plan.scored.map(\.path), frozen: frozen, preprocessor: preprocessor, decoder: decoder, crop: crop)
        }

        if let foldExecutor {
            let job = try FineTuneFoldJob(plan: plan, classes: classes, config: config, digests: digests,
                                          weightsSHA256: PretrainedMobileNetV2.installedDigest(in: weightsFolder) ?? "")
            try checkpoint()
            let results = try foldExecutor.train(job, reporter: reporter)
            try checkpoint()
            guard results.map(\.fold) == Array(0..<job.folds) else {
                throw WeightsError("the fold executor returned folds \(results.map { $0.fold + 1 }) for \(job.folds) folds")
            }
            let members = try results.flatMap { try $0.trainedMembers(firstModule: options.firstModule, classes: classes.count) }
            // Fold by fold, member by member: the order the plan lists them, so the mean of
            // each epoch sums in the order a run here sums.
            let records = results.flatMap(\.records)
            let history = (0..<training.epochs).map { e in mean(records.map { $0[e] }) }
            for record in history { reporter.epoch(record, of: training.epochs) }
            let model = TrainedModel(frozen: frozen, members: members, preprocessor: preprocessor, decoder: decoder,
                                     threads: config.settings.threads, crop: crop)
            return Result(model: model, history: history, scoredFrozen: scoredFrozen, validationProbabilities: [], validation: nil)
        }

        let poolLabels = plan.pool.map(label)
        let validation = (validationFrozen, plan.validation.map(label))
        let shared = plan.sharedEpochs.map { SharedEpochFeatures(squares: squares, seed: $0, preprocessor: preprocessor) }
        let runs = try memberRuns(plan.members, squares: squares, poolLabels: poolLabels, classes: classes.count, validation: validation,
                                  options: options, training: training, preprocessor: preprocessor, shared: shared, weights: weights,
                                  arithmetic: config.settings.arithmetic)
        let sums = try trainConcurrently(runs, weights: weights, sharedFrozen: frozen, reporter: reporter, checkpoint: checkpoint)
        let model = TrainedModel(frozen: frozen, members: runs.map(\.member.member.trained), preprocessor: preprocessor, decoder: decoder,
                                 threads: config.settings.threads, crop: crop)
        let validationProbabilities = plan.validation.isEmpty ? []
            : try model.probabilities(frozenFeatureMaps: validationFrozen, batch: plan.validation.count)
        let validationResult = plan.validation.isEmpty ? nil
            : lossAndAccuracy(validationProbabilities, labels: validation.1, classes: classes.count)
        return Result(model: model, history: sums, scoredFrozen: scoredFrozen, validationProbabilities: validationProbabilities,
                      validation: validationResult)
    }

    /// Every pool picture decoded and resized once, kept as an 8-bit square. With `digests`
    /// (a fold task), each file's SHA-256 must be the one the submitting run recorded: a picture
    /// changed since would silently train another member.
    /// With a `crop`, pictures are decoded, located and cut to their lungs 16 at a time (one
    /// batched pass of the locator's network each) before the resize.
    static func decodePool(_ paths: [String], digests: [String]?, preprocessor: Preprocessor, decoder: ImageDecoder,
                           threads: Int, crop: LungCrop? = nil) throws -> [ByteImage] {
        if let crop {
            precondition(digests == nil, "fold tasks do not crop")
            var squares: [ByteImage] = []
            squares.reserveCapacity(paths.count)
            for start in stride(from: 0, to: paths.count, by: 16) {
                let chunk = Array(paths[start..<min(start + 16, paths.count)])
                let target = crop.decodeTarget(for: preprocessor)
                let images = try Parallel.map(chunk.count, threads: threads) { i in
                    Swift.Result<RGBImage, Error> { try decoder.decode(file: chunk[i], reduceFor: target) }
                }.map { try $0.get() }
                let cut = try crop.cropped(images)
                squares += Parallel.map(cut.count, threads: threads) { i in ByteImage(preprocessor.resized(cut[i].image)) }
            }
            return squares
        }
        return try Parallel.map(paths.count, threads: threads) { i in
            Swift.Result<ByteImage, Error> {
                guard let expected = digests?[i] else {
                    return ByteImage(preprocessor.resized(try decoder.decode(file: paths[i], reduceFor: preprocessor.decodeTarget)))
                }
                guard let data = FileManager.default.contents(atPath: paths[i]) else {
                    throw ImageDecodingError(path: paths[i], reason: .unreadable("cannot open"))
                }
                guard SHA256.hex(data) == expected else {
                    throw DatasetError("\(paths[i]): the file changed since the run was submitted (its SHA-256 is no longer \(expected.prefix(16))...); rerun the command")
                }
                return ByteImage(preprocessor.resized(try decoder.decode(data: [UInt8](data), path: paths[i], reduceFor: preprocessor.decodeTarget)))
            }
        }.map { try $0.get() }
    }

    /// The runs of `members` on the decoded pool: members that train on the same rows share one
    /// job (one split: all of them).
    static func memberRuns(_ members: [FineTunePlan.Member], squares: [ByteImage], poolLabels: [Int], classes: Int,
                           validation: (frozen: [Float], labels: [Int]), options: FineTuneOptions, training: TrainingOptions,
                           preprocessor: Preprocessor, shared: SharedEpochFeatures?, weights: NamedTensors,
                           arithmetic: Arithmetic) throws -> [MemberRun<FineTuneMemberTraining>] {
        var jobs: [[Int]: MemberJob] = [:]
        return try members.map { m in
            let job = jobs[m.rows] ?? {
                let labels = m.rows.map { poolLabels[$0] }
                let counts = (0..<classes).map { c in labels.filter { $0 == c }.count }
                let classWeights = counts.map { Float(labels.count) / Float(classes * max($0, 1)) }
                return MemberJob(squares: m.rows.map { squares[$0] }, labels: labels, classWeights: classWeights, classes: classes,
                                 validation: validation, options: options, training: training, preprocessor: preprocessor,
                                 poolRows: m.rows, shared: shared)
            }()
            jobs[m.rows] = job
            return MemberRun(member: FineTuneMemberTraining(member: try FineTuneMember(weights: weights, firstModule: options.firstModule,
                                                                                        classes: classes, seed: m.seed,
                                                                                        arithmetic: arithmetic),
                                                            seed: m.seed, job: job),
                             epochs: training.epochs, batchSize: training.batchSize)
        }
    }

    /// What every member trains on, shared read-only.
    struct MemberJob: @unchecked Sendable {
        let squares: [ByteImage], labels: [Int], classWeights: [Float], classes: Int
        let validation: (frozen: [Float], labels: [Int])
        let options: FineTuneOptions, training: TrainingOptions
        let preprocessor: Preprocessor
        /// The pool row of each of the member's rows, and (cross-fitting) the epoch's shared
        /// frozen output of every pool picture, which the member's steps read instead of
        /// augmenting and running the frozen modules themselves.
        let poolRows: [Int]
        let shared: SharedEpochFeatures?
    }

    /// One epoch's augmented pool pictures through the frozen modules, computed once for every
    /// member (`FineTunePlan.sharedEpochs`): the draws come from the run's seed and the picture's
    /// pool row, the batches are fixed runs of 16 rows on single-threaded networks, so the
    /// output does not depend on which worker computed what. A fold's own task computes only
    /// the batches that hold a row its members train on (`neededRows`); every batch it computes
    /// is the same batch, with the same bits, as in a run that trains every fold.
    final class SharedEpochFeatures: @unchecked Sendable {
        static let batch = 16
        let squares: [ByteImage], seed: UInt64, preprocessor: Preprocessor
        /// The batches computed each epoch (all, unless some rows are never read).
        let batches: [Int]
        /// The epoch `features` hold (-1: none yet), and per batch its features,
        /// `[rows, valuesPerPicture]` (empty for a batch not computed).
        private(set) var epoch = -1
        private(set) var features: [[Float]] = []
        private(set) var valuesPerPicture = 0

        init(squares: [ByteImage], seed: UInt64, preprocessor: Preprocessor, neededRows: [Bool]? = nil) {
            self.squares = squares
            self.seed = seed
            self.preprocessor = preprocessor
            let n = Self.batch
            batches = (0..<((squares.count + n - 1) / n)).filter { b in
                neededRows.map { needed in ((b * n)..<min(b * n + n, squares.count)).contains { needed[$0] } } ?? true
            }
        }

        /// Computes epoch `epoch`'s features on the workers' networks (one batch of 16 at a time each).
        func prepare(epoch: Int, workspaces: [FineTuneMemberTraining.Workspace], check: () throws -> Void) throws {
            let per = preprocessor.valuesPerImage, n = Self.batch, todo = batches
            var outputs = [[Float]](repeating: [], count: (squares.count + n - 1) / n)
            var next = 0, failure: Error?
            let lock = NSLock()
            withoutActuallyEscaping(check) { check in
                let work = { (workspace: FineTuneMemberTraining.Workspace) in
                    while true {
                        lock.lock()
                        let t = next
                        next += 1
                        lock.unlock()
                        guard t < todo.count, failure == nil else { return }
                        let b = todo[t]
                        do {
                            try check()
                            let rows = Array((b * n)..<min(b * n + n, self.squares.count))
                            var input = [Float](repeating: 0, count: rows.count * per)
                            input.withUnsafeMutableBufferPointer { buffer in
                                for (k, row) in rows.enumerated() {
                                    var g = SeededGenerator(seed: self.seed, stream: "finetune-shared-augment:\(epoch):\(row)")
                                    AugmentationDraw(ranges: .fineTuning, generator: &g)
                                        .write(self.squares[row], normalizedBy: self.preprocessor.normalization, to: buffer.baseAddress! + k * per)
                                }
                            }
                            let map = try input.withUnsafeBufferPointer {
                                try workspace.frozen.forward($0.baseAddress!, batch: rows.count, outputs: .featureMap)
                            }.featureMap!
                            lock.lock()
                            outputs[b] = map
                            lock.unlock()
                        } catch {
                            lock.lock()
                            if failure == nil { failure = error }
                            lock.unlock()
                            return
                        }
                    }
                }
                if workspaces.count <= 1 {
                    work(workspaces[0])
                } else {
                    DispatchQueue.concurrentPerform(iterations: workspaces.count) { w in work(workspaces[w]) }
                }
            }
            if let failure { throw failure }
            features = outputs
            if let b = todo.first { valuesPerPicture = outputs[b].count / (min(b * n + n, squares.count) - b * n) }
            self.epoch = epoch
        }

        /// The features of pool rows `rows`, one after another.
        func gather(_ rows: [Int], epoch: Int) -> [Float] {
            precondition(epoch == self.epoch, "the shared features of epoch \(epoch) were not prepared")
            let n = Self.batch, v = valuesPerPicture
            var out: [Float] = []
            out.reserveCapacity(rows.count * v)
            for row in rows {
                let batch = features[row / n], start = (row % n) * v
                precondition(batch.count >= start + v, "pool row \(row) was not computed (its batch is not needed)")
                out += batch[start..<(start + v)]
            }
            return out
        }
    }

    /// Trains every member to the end (the one training loop, `MemberRun`, side by side), and
    /// returns the members' mean record per epoch (each reported once every member has finished
    /// that epoch).
    ///
    /// With two or more threads and members, the members train side by side, one thread each
    /// (each worker with its own single-threaded copy of the frozen modules): on this machine's
    /// two cores a step on one thread takes 1.4x its two-thread time, not 2x, so two members at
    /// once get through more images. Cross-fitted members (shared epoch features) always run
    /// single-threaded arithmetic, even alone or with one thread in all (`sharedFrozen` then only
    /// says how many threads to spread the work over), so a fold's task reproduces them exactly.
    static func trainConcurrently(_ runs: [MemberRun<FineTuneMemberTraining>], weights: NamedTensors,
                                  sharedFrozen: GraphNetwork, reporter: Reporter, checkpoint: () throws -> Void) throws -> [EpochRecord] {
        let threads = sharedFrozen.parallelism, workers = min(threads, runs.count)
        let job = runs[0].member.job
        let epochs = job.training.epochs, ensemble = runs.count
        let totalSteps = runs.map(\.totalSteps).reduce(0, +)
        var reported = 0, stepsDone = 0
        /// After each step (under the scheduler's lock): epochs every member has finished, reported in order.
        let afterStep = {
            stepsDone += 1
            while reported < epochs, runs.allSatisfy({ $0.records.count > reported }) {
                reporter.epoch(mean(runs.map { $0.records[reported] }), of: epochs)
                reported += 1
            }
            reporter.progress("fine-tuning \(ensemble) member(s)", done: stepsDone, total: totalSteps)
        }
        if let shared = job.shared {
            // Cross-fitting: each epoch's shared frozen output first (its batches spread over
            // every thread), then every member's steps of that epoch on it. All of it is
            // single-threaded arithmetic (networks of one thread, one OpenMP thread per worker),
            // however many threads and members there are: a fold's members trained alone, as
            // a Slurm task trains them, get the bits they get here beside the other folds'.
            let workspaces: [FineTuneMemberTraining.Workspace] = try (0..<max(1, threads)).map { _ in
                (try TrainedModel.frozenNetwork(weights: weights, firstModule: job.options.firstModule, parallelism: 1,
                                                arithmetic: sharedFrozen.arithmetic), 1)
            }
            let previous = KernelThreads.forCurrentThread
            defer { KernelThreads.setForCurrentThread(previous) }
            let check = {
                KernelThreads.setForCurrentThread(1)
                try checkpoint()
            }
            for epoch in 0..<epochs {
                try shared.prepare(epoch: epoch, workspaces: workspaces, check: check)
                try MemberRuns.train(runs, workspaces: Array(workspaces.prefix(max(1, workers))), throughEpoch: epoch, check: check,
                                     afterStep: afterStep)
            }
        } else if workers <= 1 {
            try MemberRuns.train(runs, workspaces: [(sharedFrozen, threads)], check: checkpoint, afterStep: afterStep)
        } else {
            let copies: [FineTuneMemberTraining.Workspace] = try (0..<workers).map { _ in
                (try TrainedModel.frozenNetwork(weights: weights, firstModule: job.options.firstModule, parallelism: 1,
                                                arithmetic: sharedFrozen.arithmetic), 1)
            }
            // Each worker's kernels run on one OpenMP thread (a per-thread setting); the calling
            // thread's, which may be a worker too, is put back as it was.
            let previous = KernelThreads.forCurrentThread
            defer { KernelThreads.setForCurrentThread(previous) }
            try MemberRuns.train(runs, workspaces: copies, check: {
                KernelThreads.setForCurrentThread(1)
                // The cancellation check reads the reporter, which is safe from any thread.
                try checkpoint()
            }, afterStep: afterStep)
        }
        return (0..<epochs).map { e in mean(runs.map { $0.records[e] }) }
    }

    /// A fine-tuned member in training: every epoch a fresh order, and every step its batch freshly
    /// augmented (`AugmentationRanges.fineTuning`), run through the worker's frozen modules and used
    /// for one AdamW step of the trained modules and head at the cosine-decayed rates.
    final class FineTuneMemberTraining: TrainableMember {
        typealias Workspace = (frozen: GraphNetwork, threads: Int)
        let member: FineTuneMember
        let seed: UInt64
        let job: MemberJob

        init(member: FineTuneMember, seed: UInt64, job: MemberJob) {
            self.member = member
            self.seed = seed
            self.job = job
        }

        var trainingRows: Int { job.labels.count }

        func beginEpoch(_ epoch: Int, previousOrder: [Int]) -> [Int] {
            var order = Array(job.labels.indices)
            var shuffler = SeededGenerator(seed: seed, stream: "finetune-order:\(epoch)")
            order.shuffle(using: &shuffler)
            return order
        }

        func step(rows batch: [Int], epoch: Int, step: Int, totalSteps total: Int, workspace: Workspace) throws -> MemberStep {
            let features = try job.shared.map { $0.gather(batch.map { job.poolRows[$0] }, epoch: epoch) }
                ?? augmentedFeatures(batch, epoch: epoch, workspace: workspace)
            let options = job.options
            var dropout = SeededGenerator(seed: seed, stream: "finetune-dropout:\(step)")
            let keep = 1 - options.dropout
            let mask = options.dropout > 0
                ? (0..<(batch.count * member.classifier.inputs)).map { _ in dropout.unit() < Double(keep) ? 1 / keep : 0 } : nil
            let outcome = try member.train(frozen: features, batch: batch.count, labels: batch.map { job.labels[$0] },
                                           classWeights: job.classWeights,
                                           backboneRate: CosineSchedule.rate(base: options.backboneRate, step: step, total: total),
                                           headRate: CosineSchedule.rate(base: options.headRate, step: step, total: total),
                                           dropoutMask: mask)
            return MemberStep(loss: outcome.loss, correct: outcome.correct)
        }

        /// The member's own draw of each batch picture, through the worker's frozen modules.
        func augmentedFeatures(_ batch: [Int], epoch: Int, workspace: Workspace) throws -> [Float] {
            let per = job.preprocessor.valuesPerImage
            // Every value is written by the augmentation, so the buffer starts uninitialised.
            let input = [Float](unsafeUninitializedCapacity: batch.count * per) { buffer, count in
                let base = buffer.baseAddress!
                Parallel.forEach(batch.count, threads: workspace.threads) { k in
                    var g = SeededGenerator(seed: seed, stream: "finetune-augment:\(epoch):\(batch[k])")
                    let draw = AugmentationDraw(ranges: .fineTuning, generator: &g)
                    draw.write(job.squares[batch[k]], normalizedBy: job.preprocessor.normalization, to: base + k * per)
                }
                count = batch.count * per
            }
            return try input.withUnsafeBufferPointer {
                try workspace.frozen.forward($0.baseAddress!, batch: batch.count, outputs: .featureMap)
            }.featureMap!
        }

        func endEpoch(workspace: Workspace) throws -> (trainAccuracy: Double?, validation: (loss: Double, accuracy: Double)?) {
            guard !job.validation.labels.isEmpty else { return (nil, nil) }
            let p = try member.probabilities(frozen: job.validation.frozen, batch: job.validation.labels.count)
            return (nil, lossAndAccuracy(p, labels: job.validation.labels, classes: job.classes))
        }

        /// The member's tensors (fine-tuning trains without early stopping; the option rules refuse a patience).
        func snapshot() -> [String: Tensor] { member.tensors }
    }

    /// The members' mean record of one epoch.
    static func mean(_ records: [EpochRecord]) -> EpochRecord {
        let n = Double(records.count)
        var r = EpochRecord(epoch: records[0].epoch, trainLoss: records.map(\.trainLoss).reduce(0, +) / n,
                            trainAccuracy: records.map(\.trainAccuracy).reduce(0, +) / n)
        let losses = records.compactMap(\.valLoss), accuracies = records.compactMap(\.valAccuracy)
        if losses.count == records.count { r.valLoss = losses.reduce(0, +) / n }
        if accuracies.count == records.count { r.valAccuracy = accuracies.reduce(0, +) / n }
        return r
    }

    /// The frozen modules' output for files that must all decode (they already did once).
    static func frozenFeatures(_ paths: [String], frozen: GraphNetwork, preprocessor: Preprocessor, decoder: ImageDecoder,
                               crop: LungCrop? = nil) throws -> [Float] {
        let embedder = ImageEmbedder(network: frozen, preprocessor: preprocessor, decoder: decoder, threads: frozen.parallelism, crop: crop)
        var features: [Float] = []
        for start in stride(from: 0, to: paths.count, by: 16) {
            let pass = try embedder.forward(Array(paths[start..<min(start + 16, paths.count)]), outputs: .featureMap)
            if let failure = pass.failures.first { throw failure }
            features += pass.output!.featureMap!
        }
        return features
    }

    /// Unweighted mean cross-entropy and accuracy of probabilities `[rows, classes]`.
    static func lossAndAccuracy(_ p: [Float], labels: [Int], classes: Int) -> (loss: Double, accuracy: Double) {
        var loss = 0.0, correct = 0
        for (r, y) in labels.enumerated() {
            let row = Array(p[(r * classes)..<((r + 1) * classes)])
            loss -= log(max(Double(row[y]), 1e-12))
            if Argmax.of(row) == y { correct += 1 }
        }
        return (loss / Double(max(labels.count, 1)), Double(correct) / Double(max(labels.count, 1)))
    }
}
