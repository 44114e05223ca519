import Foundation
import LightboxCore
import LightboxData
import LightboxImaging
import LightboxModels
import LightboxWorkflows
import LightboxInterop
import LightboxHead

/// Live state of a run, as the page polls it.
public struct RunProgress: Codable, Sendable {
    public var stage: String = "queued"
    public var done: Int = 0
    public var total: Int = 0
    public var epochs: [EpochRecord] = []
    public var totalEpochs: Int = 0
    public var notes: [String] = []
}

/// Runs training in the background, one run at a time, recording progress in the store as it
/// goes (so a restart shows what happened). Options are validated and the work is bounded
/// before a run is stored; a run that fails or is cancelled after that is marked so, with its
/// reason, and leaves no temporary files.
public final class RunManager: @unchecked Sendable {
    let store: StudioStore
    private let lock = NSLock()
    private var live: [Int64: RunProgress] = [:]
    private var cancelled: Set<Int64> = []
    private var predictors: [Int64: Predictor] = [:]
    /// Cross-fitted runs' fold models, by run and fold (1-K).
    private var foldPredictors: [Int64: [Int: Predictor]] = [:]
    /// Each loaded run model's batcher: concurrent predictions on a run share its passes.
    private var batchers: [Int64: PictureBatcher] = [:]
    private let queue = DispatchQueue(label: "lightbox.studio.training", qos: .utility)
    /// The run context every run and prediction uses.
    let settings: LightboxSettings
    /// The lung locator the Predict panel's boxes come from.
    let lungs: StudioLungs

    public init(store: StudioStore, settings: LightboxSettings) {
        self.store = store
        self.settings = settings
        lungs = StudioLungs(settings: settings)
    }

    /// Fewer images than this in a class with any is refused: a 70/15/15 split would leave one
    /// test picture of it or none, and a run on 5 + 2 pictures looked perfect (issue 13).
    public static let minimumImagesPerClass = 10

    /// Starts a run; throws `badRequest` for any invalid option or a run over the budget (nothing
    /// stored), `conflict` when the project already has one in progress. The design (folds, or one
    /// split) is the project's (`design(projectId:)`), recorded in the run's stored options.
    public func start(projectId: Int64, options: RunOptions) throws -> RunRecord {
        let classes = try store.classes(projectId: projectId)
        guard classes.filter({ $0.1 > 0 }).count >= 2 else {
            throw StudioError(.badRequest, "training needs at least two classes with images")
        }
        if let (empty, _) = classes.first(where: { $0.1 == 0 }) {
            throw StudioError(.badRequest, "class '\(empty.name.prefix(100))' has no pictures: add pictures to it or delete it before training")
        }
        let people = try patients(projectId: projectId)
        let design = StudioDesign.choose(patientsPerClass: people.perClass)
        // Validate against placeholder paths first: nothing exists yet if this throws.
        let probe = try options.configuration(data: "-", output: "-", settings: settings, design: design)
        if let (small, count) = classes.first(where: { $0.1 > 0 && $0.1 < Self.minimumImagesPerClass }) {
            throw StudioError(.badRequest, "every class needs at least \(Self.minimumImagesPerClass) images to train (class '\(small.name.prefix(100))' has \(count)): with fewer, its figures rest on a picture or two, and its numbers mean nothing")
        }
        if let positive = options.positive, !classes.contains(where: { $0.0.name == positive && $0.1 > 0 }) {
            throw StudioError(.badRequest, "positive class '\(positive.prefix(100))' is not one of the project's classes with images")
        }
        if !design.crossFits {
            // One split must leave patients to train on and to test on (the run would stop there).
            let split = Splitter.split(people.images, fractions: probe.split, seed: probe.training.seed)
            guard !split.train.isEmpty, !split.test.isEmpty else {
                throw StudioError(.badRequest, "too few patients to train and test: \(design.reason), and the project's \(Set(people.images.map(\.group)).count) patients leave the \(split.train.isEmpty ? "training" : "test") part of the split empty; add pictures of more patients")
            }
        }
        do {
            // Names stored before they were normalised may be equal as Swift compares them: add up.
            let images = Dictionary(classes.filter { $0.1 > 0 }.map { ($0.0.name, $0.1) }, uniquingKeysWith: +)
            try TrainingOptionRules.checkBudget(trainImagesPerClass: TrainingOptionRules.expectedTrainImages(perClass: images, split: design.memberShare(split: probe.split)),
                                                config: probe)
        } catch {
            throw StudioError(.badRequest, "\(error)")
        }
        var recorded = options
        recorded.folds = design.folds
        let json = String(decoding: try JSONEncoder().encode(recorded), as: UTF8.self)
        let record = try store.createRun(projectId: projectId, options: json)
        let id = record.id!
        do {
            // The data set: a CSV list beside the image folder, so its paths stay inside the data
            // directory. A machine-read list: written faithfully, not spreadsheet-neutralised.
            // `name`: what the report calls each picture (the files are named by content hash).
            // A `group` column only when some picture has a patient id (an import that carried
            // them): otherwise the run and its report say that each image is its own patient.
            // A picture held by two classes is left out (the page says so at upload): listed under
            // both, the list's reader would keep its first row and train it under one of them.
            let shared = try store.classesSharingPictures(projectId: projectId)
            let all = try store.images(projectId: projectId), images = all.filter { shared[$0.sha256] == nil }
            if images.count < all.count {
                set(id) { $0.notes.append("left out \(all.count - images.count) picture(s) held by more than one class") }
            }
            let grouped = images.contains { $0.groupName != nil }
            var text = grouped ? "path,label,group,name\n" : "path,label,name\n"
            let names = Dictionary(uniqueKeysWithValues: classes.map { ($0.0.id!, $0.0.name) })
            for image in images {
                let relative = "images/\(image.sha256.prefix(2))/\(image.sha256)"
                let group = image.groupName.map { "g:\($0)" } ?? "image:\(image.id!)"
                text += CSVText.row([relative, names[image.classId] ?? "?"] + (grouped ? [group] : []) + [image.filename])
            }
            try AtomicFile.write(Data(text.utf8), to: store.runDatasetList(id).path)
            // Groups from DICOM patient ids are pseudonyms: the run keeps their salt, as CLI runs do.
            if grouped, FileManager.default.fileExists(atPath: store.directory.appendingPathComponent(PatientPseudonyms.fileName).path) {
                try PatientPseudonyms.stored(in: store.directory.path).write(into: store.runDirectory(id).path)
            }
            // The options were validated above (as `probe`); only the paths are this run's.
            var paths = probe
            paths.data = store.runDatasetList(id).path
            paths.output = store.runDirectory(id).path
            paths.dataLabel = "Lightbox Studio project '\(try store.project(projectId).name)'"
            let config = paths
            set(id) { $0.totalEpochs = config.training.epochs }
            queue.async { self.execute(id, config) }
        } catch {
            finish(id, status: .failed, error: "\(error)")
            throw error
        }
        return record
    }

    /// The design a run of the project would have now, with its reason.
    public func design(projectId: Int64) throws -> StudioDesign {
        StudioDesign.choose(patientsPerClass: try patients(projectId: projectId).perClass)
    }

    /// The pictures a run of the project trains on, as (class, patient group) (a picture held by
    /// two classes is left out, as training leaves it out), and each class's patients as the
    /// folds count them, in the project's class order (classes with such pictures only). The
    /// groups are the ones `start` writes: the patient id an import or a DICOM file carried,
    /// else the picture itself.
    func patients(projectId: Int64) throws -> (images: [LabeledImage], perClass: [(name: String, patients: Int)]) {
        let classes = try store.classes(projectId: projectId).map(\.0)
        let names = Dictionary(uniqueKeysWithValues: classes.map { ($0.id!, $0.name) })
        let shared = try store.classesSharingPictures(projectId: projectId)
        let images = try store.images(projectId: projectId).filter { (shared[$0.sha256]?.count ?? 1) < 2 }.map { image in
            LabeledImage(path: "image:\(image.id!)", label: names[image.classId] ?? "?",
                         group: image.groupName.map { "g:\($0)" } ?? "image:\(image.id!)")
        }
        let counts = StudioDesign.patients(of: images.map { ($0.label, $0.group) })
        var seen = Set<String>()
        let perClass = classes.compactMap { c -> (name: String, patients: Int)? in
            guard seen.insert(c.name).inserted, images.contains(where: { $0.label == c.name }) else { return nil }
            return (c.name, counts[c.name] ?? 0)
        }
        return (images, perClass)
    }

    /// Asks a queued or running run to stop; it ends as `cancelled` within about a batch.
    public func cancel(_ id: Int64) throws -> RunRecord {
        let run = try store.run(id)
        guard run.status.isActive else { throw StudioError(.conflict, "run \(id) is \(run.status), not in progress") }
        lock.lock()
        cancelled.insert(id)
        lock.unlock()
        set(id) { $0.notes.append("cancel requested") }
        return run
    }

    func isCancelled(_ id: Int64) -> Bool {
        lock.lock()
        defer { lock.unlock() }
        return cancelled.contains(id)
    }

    private func execute(_ id: Int64, _ config: TrainingConfiguration) {
        guard !isCancelled(id) else { return finish(id, status: .cancelled, error: "cancelled before it started") }
        try? store.updateRun(id) { $0.status = .running }
        let reporter = Reporting(manager: self, id: id)
        do {
            let summary = try TrainingRun.run(config, reporter: reporter)
            let metrics = try? String(contentsOf: URL(fileURLWithPath: summary.runDirectory).appendingPathComponent("metrics.json"),
                                      encoding: .utf8)
            set(id) { $0.stage = "finished" }
            try? store.updateRun(id) {
                $0.status = .finished
                $0.metrics = metrics
                $0.progress = self.progressJSON(id)
                $0.finished = Date()
            }
            try? FileManager.default.removeItem(at: store.runDatasetList(id))
        } catch is TrainingCancelled {
            finish(id, status: .cancelled, error: "cancelled")
        } catch {
            finish(id, status: .failed, error: "\(error)")
        }
    }

    /// Ends a run that produced nothing usable: its status and reason, and no files left.
    private func finish(_ id: Int64, status: RunStatus, error: String) {
        set(id) { $0.stage = status.rawValue }
        try? store.updateRun(id) {
            $0.status = status
            $0.error = error
            $0.progress = self.progressJSON(id)
            $0.finished = Date()
        }
        store.removeRunFiles(id)
        lock.lock()
        cancelled.remove(id)
        lock.unlock()
    }

    func set(_ id: Int64, _ change: (inout RunProgress) -> Void) {
        lock.lock()
        var p = live[id] ?? RunProgress()
        change(&p)
        live[id] = p
        lock.unlock()
    }

    /// The live progress of a run this process started, if any.
    public func progress(_ id: Int64) -> RunProgress? {
        lock.lock()
        defer { lock.unlock() }
        return live[id]
    }

    func progressJSON(_ id: Int64) -> String? {
        progress(id).flatMap { try? String(decoding: JSONEncoder().encode($0), as: UTF8.self) }
    }

    /// A predictor for a finished run's model, loaded once.
    public func predictor(run id: Int64) throws -> Predictor {
        lock.lock()
        if let p = predictors[id] { lock.unlock(); return p }
        lock.unlock()
        let run = try store.run(id)
        guard run.status == .finished else { throw StudioError(.conflict, "run \(id) is \(run.status), not finished") }
        let p = try Predictor(model: store.runDirectory(id).appendingPathComponent("model").path, settings: settings)
        lock.lock()
        predictors[id] = p
        lock.unlock()
        return p
    }

    /// The batcher of run `id`'s model (`PredictionBatcher`): predictions of uploaded pictures on
    /// the run go through it, so that concurrent ones share the model's passes.
    func batcher(run id: Int64) throws -> PictureBatcher {
        let predictor = try predictor(run: id)
        lock.lock()
        defer { lock.unlock() }
        if let b = batchers[id] { return b }
        let b = PictureBatcher(predictor: predictor)
        batchers[id] = b
        return b
    }

    /// The model of fold `fold` (1-K) of a cross-fitted run: the members that trained on every
    /// other fold and scored this one (the bundle keeps them fold by fold, `members / K` each), with
    /// the run's decision rule, so a picture of that fold gets its out-of-fold answer. Nil for a
    /// run with one split, or a fold it does not have.
    public func predictor(run id: Int64, fold: Int) throws -> Predictor? {
        lock.lock()
        if let p = foldPredictors[id]?[fold] { lock.unlock(); return p }
        lock.unlock()
        let whole = try predictor(run: id)
        struct Design: Decodable { var folds: Int? }
        let folds = try store.run(id).metrics.flatMap { try? JSONDecoder().decode(Design.self, from: Data($0.utf8)).folds } ?? 1
        let members = whole.model.members.count
        guard folds > 1, (1...folds).contains(fold), members % folds == 0 else { return nil }
        let each = members / folds
        let p = Predictor(model: whole.model.keeping(members: ((fold - 1) * each)..<(fold * each)), classes: whole.classes,
                          decision: whole.decision, baseWeightsSHA256: whole.baseWeightsSHA256)
        lock.lock()
        foldPredictors[id, default: [:]][fold] = p
        lock.unlock()
        return p
    }

    /// Forgets what this process holds for deleted runs.
    func forget(_ ids: [Int64]) {
        lock.lock()
        for id in ids {
            predictors[id] = nil
            foldPredictors[id] = nil
            batchers[id] = nil
            live[id] = nil
        }
        lock.unlock()
    }

    /// Forwards a run's progress into the manager and, per epoch, into the store.
    struct Reporting: Reporter {
        let manager: RunManager
        let id: Int64

        var isCancelled: Bool { manager.isCancelled(id) }

        func note(_ line: String) { manager.set(id) { $0.notes.append(line) } }

        func progress(_ stage: String, done: Int, total: Int) {
            manager.set(id) {
                $0.stage = stage
                $0.done = done
                $0.total = total
            }
        }

        func epoch(_ record: EpochRecord, of total: Int) {
            manager.set(id) {
                $0.stage = "training"
                $0.epochs.append(record)
                $0.totalEpochs = total
            }
            try? manager.store.updateRun(id) { $0.progress = manager.progressJSON(id) }
        }
    }
}
