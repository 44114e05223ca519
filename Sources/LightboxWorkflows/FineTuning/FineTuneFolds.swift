import Foundation
import LightboxCore
import LightboxData
import LightboxHead
import LightboxImaging
import LightboxInterop
import LightboxKernels
import LightboxModels

/// Trains the folds of a cross-fitted fine-tuning run somewhere else (a Slurm job array, one
/// task a fold), and waits for them.
public protocol FoldTrainingExecutor: Sendable {
    /// Every fold's result (its members' tensors and epoch records), in fold order.
    func train(_ job: FineTuneFoldJob, reporter: Reporter) throws -> [FineTuneFoldResult]
}

/// What a fold's own task needs to train exactly the members a cross-fitted fine-tuning run
/// lists for that fold (`FineTunePlan.foldMembers`), as a value: the pool of pictures (fold by
/// fold, each with its label, fold and content digest), the members per fold, the seed and every
/// setting the training reads. The submitting run writes it once into the run's folds folder
/// (`fold-job.json`); every task reads it back (`lightbox train --fold-job FILE --shard K/N`). No
/// data set is loaded, divided or deduplicated again on the nodes, and no command line is
/// assembled from flags.
public struct FineTuneFoldJob: Codable, Sendable, Equatable {
    public static let fileName = "fold-job.json"
    public static let formatName = "lightbox-fold-job/1"

    public struct Picture: Codable, Sendable, Equatable {
        /// Absolute, as every node sees it.
        public var path: String
        /// An index into `classes`.
        public var label: Int
        /// 0-based.
        public var fold: Int
        /// SHA-256 of the file's bytes when the run was submitted.
        public var sha256: String
    }

    public var format = Self.formatName
    public var classes: [String]
    /// The pool, fold by fold (`FineTunePlan.pool`).
    public var pictures: [Picture]
    public var folds: Int
    public var perFold: Int
    /// The run's seed: the members' (seed + k * perFold + e) and the shared augmentation's.
    public var seed: UInt64
    public var epochs: Int
    public var batchSize: Int
    public var fineTune: FineTuneOptions
    public var resize: ResizePolicy
    public var equalization: Equalization
    public var dicomWindow: DICOMWindow
    /// The pretrained weights' digest: a task on a node with other weights stops.
    public var weightsSHA256: String
    /// The run's precision: every task trains in it (bf16 on a node without AVX-512 BF16:
    /// emulated, the same values summed in another order, so not bit for bit the same).
    public var precision: Precision

    /// The job of a cross-fitting plan, with the content digests the run read (`known`; files
    /// missing there are read again).
    init(plan: FineTunePlan, classes: [String], config: TrainingConfiguration,
         digests known: [String: Result<String, ImageDecodingError>] = [:], weightsSHA256: String) throws {
        precondition(plan.sharedEpochs != nil && plan.foldOfRow.count == plan.pool.count, "a fold job is for a cross-fitting plan")
        let missing = plan.pool.map(\.path).filter { known[$0] == nil }
        let digests = known.merging(missing.isEmpty ? [:] : ContentDigests.compute(missing, threads: config.settings.threads)) { a, _ in a }
        pictures = try plan.pool.indices.map { i in
            let image = plan.pool[i]
            guard case .success(let digest)? = digests[image.path] else {
                throw DatasetError("\(image.path): cannot be read again to record its digest for the fold tasks")
            }
            return Picture(path: URL(fileURLWithPath: image.path).standardizedFileURL.path, label: classes.firstIndex(of: image.label)!,
                           fold: plan.foldOfRow[i], sha256: digest)
        }
        self.classes = classes
        folds = plan.members.count / max(1, plan.perFold)
        perFold = plan.perFold
        seed = plan.sharedEpochs!
        epochs = config.training.epochs
        batchSize = config.training.batchSize
        fineTune = config.fineTune
        resize = config.resize
        equalization = config.equalization
        dicomWindow = config.dicomWindow
        self.weightsSHA256 = weightsSHA256
        precision = config.settings.arithmetic.precision
    }

    /// The job as written into the folds folder (sorted keys: the same job, the same bytes).
    public func encoded() throws -> Data {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.prettyPrinted, .sortedKeys]
        return try encoder.encode(self)
    }

    /// SHA-256 of `encoded()`: every fold result names the job it belongs to, so a rerun with
    /// other data or settings never takes an earlier run's fold for its own.
    public func identity() throws -> String { SHA256.hex(try encoded()) }

    /// Reads a job file; a clear error naming it when it is not one, or not a consistent one.
    public static func read(from path: String) throws -> FineTuneFoldJob {
        guard let data = FileManager.default.contents(atPath: path) else { throw WeightsError("\(path): cannot read the fold job file") }
        let job: FineTuneFoldJob
        do {
            job = try JSONDecoder().decode(FineTuneFoldJob.self, from: data)
        } catch {
            throw WeightsError("\(path): not a fold job (\(error))")
        }
        if let problem = job.problem { throw WeightsError("\(path): \(problem)") }
        return job
    }

    /// What makes the job unusable, if anything.
    var problem: String? {
        guard format == Self.formatName else { return "format \(format), expected \(Self.formatName)" }
        guard (2...20).contains(folds) else { return "\(folds) folds (2-20)" }
        guard perFold >= 1, epochs >= 1, batchSize >= 1 else { return "members per fold, epochs and batch size must be at least 1" }
        guard classes.count >= 2 else { return "needs at least two classes" }
        guard MobileNetV2Architecture.standard.trainableModuleCounts.contains(fineTune.unfreeze) else {
            return "unfreeze \(fineTune.unfreeze) is not in \(MobileNetV2Architecture.standard.trainableModuleCounts)"
        }
        for (i, p) in pictures.enumerated() {
            guard (0..<folds).contains(p.fold), classes.indices.contains(p.label) else {
                return "picture \(i) (\(p.path)) has fold \(p.fold) or label \(p.label) out of range"
            }
            guard i == 0 || pictures[i - 1].fold <= p.fold else { return "the pictures are not listed fold by fold (picture \(i))" }
        }
        guard Set(pictures.map(\.fold)).count == folds else { return "a fold has no picture" }
        return nil
    }

    /// Trains fold `fold`'s members (0-based) here, as its Slurm task does: the pool decoded
    /// (each file checked against its digest), each epoch's shared frozen output computed for
    /// the batches those members read, and their steps, all with the single-threaded
    /// arithmetic of a whole run (`FineTuneTraining.trainConcurrently`). `settings.threads`
    /// spreads the decoding, the shared batches and (with several members) the members over
    /// threads without changing a bit.
    public func train(fold: Int, settings taskSettings: LightboxSettings, reporter: Reporter = SilentReporter(),
                      checkpoint: () throws -> Void = {}) throws -> FineTuneFoldResult {
        let settings = taskSettings.with(arithmetic: PrecisionChoice.choose(requested: precision).arithmetic)
        guard (0..<folds).contains(fold) else { throw WeightsError("fold \(fold + 1) is not one of the job's \(folds) folds") }
        let weightsFolder = PretrainedMobileNetV2.folder(in: settings)
        let installed = PretrainedMobileNetV2.installedDigest(in: weightsFolder)
        guard installed == weightsSHA256 else {
            throw WeightsError("\(weightsFolder): the pretrained weights here (SHA-256 \(installed.map { String($0.prefix(16)) } ?? "none installed")) are not the ones the run was submitted with (\(weightsSHA256.prefix(16))); run `lightbox setup` with the same LIGHTBOX_HOME on every node")
        }
        let weights = try PretrainedMobileNetV2.load(from: weightsFolder)
        let preprocessor = Preprocessor(policy: resize, equalization: equalization)
        let decoder = ImageDecoder(maxPixels: settings.maxPixels, dicomWindow: dicomWindow)
        let started = Date()
        let squares = try FineTuneTraining.decodePool(pictures.map(\.path), digests: pictures.map(\.sha256), preprocessor: preprocessor,
                                                      decoder: decoder, threads: settings.threads)
        try checkpoint()
        let foldOfRow = pictures.map(\.fold)
        let members = FineTunePlan.foldMembers(fold, foldOfRow: foldOfRow, perFold: perFold, seed: seed)
        reporter.note("fold \(fold + 1) of \(folds): \(members.count) member(s) on \(members[0].rows.count) of \(pictures.count) pictures, \(epochs) epoch(s)")
        let shared = FineTuneTraining.SharedEpochFeatures(squares: squares, seed: seed, preprocessor: preprocessor,
                                                          neededRows: foldOfRow.map { $0 != fold })
        var training = TrainingOptions()
        training.epochs = epochs
        training.batchSize = batchSize
        training.seed = seed
        let runs = try FineTuneTraining.memberRuns(members, squares: squares, poolLabels: pictures.map(\.label), classes: classes.count,
                                                   validation: ([], []), options: fineTune, training: training,
                                                   preprocessor: preprocessor, shared: shared, weights: weights,
                                                   arithmetic: settings.arithmetic)
        let frozen = try TrainedModel.frozenNetwork(weights: weights, firstModule: fineTune.firstModule, parallelism: settings.threads,
                                                    arithmetic: settings.arithmetic)
        _ = try FineTuneTraining.trainConcurrently(runs, weights: weights, sharedFrozen: frozen, reporter: reporter, checkpoint: checkpoint)
        return FineTuneFoldResult(fold: fold, folds: folds, job: try identity(), members: runs.map(\.member.member.tensors),
                                  records: runs.map(\.records), seconds: Date().timeIntervalSince(started))
    }
}

/// A fold's trained members and their epoch records, as its task leaves them in the folds
/// folder: one safetensors file (`fold-K-of-N.safetensors`, K from 1), written atomically, whose
/// tensors are `member-E/NAME` (E from 0) and whose metadata names the format, the job
/// (`FineTuneFoldJob.identity`), the fold and the records (each value's bits, so the run's
/// mean curves are a local run's to the last bit).
public struct FineTuneFoldResult: Sendable {
    public static let formatName = "lightbox-fold/1"
    public var fold: Int
    public var folds: Int
    public var job: String
    /// Per member (the fold's, in seed order), its tensors as a bundle saves them.
    public var members: [[String: Tensor]]
    /// Per member, one record per epoch.
    public var records: [[EpochRecord]]
    /// How long the task trained (for the log; not part of the result's identity).
    public var seconds: Double
    /// The file it was read from (for messages).
    public var source: String?

    public init(fold: Int, folds: Int, job: String, members: [[String: Tensor]], records: [[EpochRecord]], seconds: Double) {
        self.fold = fold
        self.folds = folds
        self.job = job
        self.members = members
        self.records = records
        self.seconds = seconds
    }

    /// `fold-K-of-N.safetensors`, K from 1 as the report and predictions.csv count folds.
    public static func fileName(fold: Int, of folds: Int) -> String { "fold-\(fold + 1)-of-\(folds).safetensors" }

    /// A record's values by their bits.
    struct RecordBits: Codable {
        var epoch: Int
        var trainLoss: String, trainAccuracy: String
        var valLoss: String?, valAccuracy: String?
    }

    static func bits(_ x: Double) -> String { String(x.bitPattern, radix: 16) }
    static func value(_ text: String) -> Double? { UInt64(text, radix: 16).map(Double.init(bitPattern:)) }

    public func encoded() throws -> Data {
        var tensors: [String: Tensor] = [:]
        for (e, member) in members.enumerated() {
            for (name, tensor) in member { tensors["member-\(e)/\(name)"] = tensor }
        }
        let bits = records.map { member in
            member.map { r in
                RecordBits(epoch: r.epoch, trainLoss: Self.bits(r.trainLoss), trainAccuracy: Self.bits(r.trainAccuracy),
                           valLoss: r.valLoss.map(Self.bits), valAccuracy: r.valAccuracy.map(Self.bits))
            }
        }
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys]
        return try SafeTensors.encode(tensors, metadata: [
            "format": Self.formatName, "job": job, "fold": "\(fold + 1)", "folds": "\(folds)", "members": "\(members.count)",
            "records": String(decoding: try encoder.encode(bits), as: UTF8.self), "seconds": String(format: "%.1f", seconds),
            "host": StaleTemporaries.host,
        ])
    }

    /// Written atomically (a temporary beside it, then a rename): a reader sees all of it or none.
    public func write(to path: String) throws {
        try AtomicFile.write(try encoded(), to: path)
    }

    /// The result at `path` for fold `fold` (0-based) of `job`, with `expectMembers` members of
    /// `epochs` records each; a clear error naming the file when it is anything else.
    public static func read(from path: String, job: String, fold: Int, folds: Int, expectMembers: Int, epochs: Int) throws -> FineTuneFoldResult {
        guard let data = FileManager.default.contents(atPath: path) else { throw WeightsError("\(path): no fold result") }
        let (tensors, metadata) = try SafeTensors.decode(data, source: path)
        guard metadata["format"] == formatName else { throw WeightsError("\(path): not a fold result (format \(metadata["format"] ?? "none"))") }
        guard metadata["job"] == job else { throw WeightsError("\(path): the result of another fold job (other data or settings)") }
        guard metadata["fold"] == "\(fold + 1)", metadata["folds"] == "\(folds)" else {
            throw WeightsError("\(path): holds fold \(metadata["fold"] ?? "?") of \(metadata["folds"] ?? "?"), not \(fold + 1) of \(folds)")
        }
        guard metadata["members"] == "\(expectMembers)" else {
            throw WeightsError("\(path): holds \(metadata["members"] ?? "?") members, the job trains \(expectMembers) a fold")
        }
        let bits: [[RecordBits]]
        do {
            bits = try JSONDecoder().decode([[RecordBits]].self, from: Data((metadata["records"] ?? "").utf8))
        } catch {
            throw WeightsError("\(path): its epoch records are unreadable (\(error))")
        }
        guard bits.count == expectMembers else { throw WeightsError("\(path): has the records of \(bits.count) members, not \(expectMembers)") }
        let records = try bits.map { member -> [EpochRecord] in
            guard member.count == epochs else { throw WeightsError("\(path): a member has \(member.count) epoch records, not \(epochs)") }
            return try member.map { b in
                func number(_ text: String?) throws -> Double? {
                    guard let text else { return nil }
                    guard let x = value(text) else { throw WeightsError("\(path): '\(text)' is not a record value") }
                    return x
                }
                return EpochRecord(epoch: b.epoch, trainLoss: try number(b.trainLoss)!, trainAccuracy: try number(b.trainAccuracy)!,
                                   valLoss: try number(b.valLoss), valAccuracy: try number(b.valAccuracy))
            }
        }
        var members = [[String: Tensor]](repeating: [:], count: expectMembers)
        for (name, tensor) in tensors {
            guard name.hasPrefix("member-"), let slash = name.firstIndex(of: "/"),
                  let e = Int(name[name.index(name.startIndex, offsetBy: 7)..<slash]), members.indices.contains(e) else {
                throw WeightsError("\(path): unexpected tensor '\(name)'")
            }
            members[e][String(name[name.index(after: slash)...])] = tensor
        }
        var result = FineTuneFoldResult(fold: fold, folds: folds, job: job, members: members, records: records,
                                        seconds: metadata["seconds"].flatMap(Double.init) ?? 0)
        result.source = path
        return result
    }

    /// The result for `job`'s fold `fold`, if there is a valid one at `path` (else nil: not done).
    public static func existing(at path: String, job: FineTuneFoldJob, identity: String, fold: Int) -> FineTuneFoldResult? {
        guard FileManager.default.fileExists(atPath: path) else { return nil }
        return try? read(from: path, job: identity, fold: fold, folds: job.folds, expectMembers: job.perFold, epochs: job.epochs)
    }

    /// The fold's members as a model's members (each checked: every tensor, its shape, finite values).
    func trainedMembers(firstModule: Int, classes: Int) throws -> [FineTunedMember] {
        try members.enumerated().map { e, tensors in
            try FineTunedMember(store: NamedTensors(tensors, source: "\(source ?? Self.fileName(fold: fold, of: folds)), member \(e)"),
                                firstModule: firstModule, classes: classes)
        }
    }
}
