import Foundation
import LightboxData
import LightboxImaging
import LightboxModels
import LightboxTraining

/// Training options a request may set (all optional; Teachable Machine's defaults otherwise).
public struct RunOptions: Codable, Sendable {
    public var epochs: Int?
    public var batchSize: Int?
    public var learningRate: Float?
    public var denseUnits: Int?
    public var dropout: Float?
    public var balance: String?
    public var augmentCopies: Int?
    public var split: String?
    public var seed: UInt64?
    public var resize: String?
    public var positive: String?

    func configuration(data: String, output: String) throws -> TrainingConfiguration {
        var c = try TrainingConfiguration(data: data, output: output)
        c.source = .csv
        var t = TrainingOptions()
        if let v = epochs { guard (1...1000).contains(v) else { throw StudioError(.badRequest, "epochs must be 1-1000") }; t.epochs = v }
        if let v = batchSize { guard (1...4096).contains(v) else { throw StudioError(.badRequest, "batchSize must be 1-4096") }; t.batchSize = v }
        if let v = learningRate { guard v > 0 && v < 10 else { throw StudioError(.badRequest, "learningRate must be in (0, 10)") }; t.learningRate = v }
        if let v = denseUnits { guard (1...4096).contains(v) else { throw StudioError(.badRequest, "denseUnits must be 1-4096") }; t.denseUnits = v }
        if let v = dropout { guard v >= 0 && v < 1 else { throw StudioError(.badRequest, "dropout must be in [0, 1)") }; t.dropout = v }
        if let v = seed { t.seed = v }
        c.training = t
        do {
            if let v = balance { c.balance = try BalancePolicy(parsing: v) }
            if let v = split { c.split = try SplitFractions(parsing: v) }
        } catch {
            throw StudioError(.badRequest, "\(error)")
        }
        if let v = augmentCopies { guard (0...20).contains(v) else { throw StudioError(.badRequest, "augmentCopies must be 0-20") }; c.augmentCopies = v }
        if let v = resize {
            guard let p = ResizePolicy(rawValue: v) else { throw StudioError(.badRequest, "resize must be crop, pad or stretch") }
            c.resize = p
        }
        c.positiveClass = positive
        return c
    }
}

/// Live state of a run, as the page polls it.
public struct RunProgress: Codable, Sendable {
    public var stage: String = "queued"
    public var done: Int = 0
    public var total: Int = 0
    public var epochs: [EpochRecord] = []
    public var totalEpochs: Int = 0
    public var notes: [String] = []
}

/// Runs training in the background, one run per project at a time, recording progress in
/// the store as it goes (so a restart shows what happened).
public final class RunManager: @unchecked Sendable {
    let store: StudioStore
    private let lock = NSLock()
    private var live: [Int64: RunProgress] = [:]
    private var predictors: [Int64: Predictor] = [:]
    private let queue = DispatchQueue(label: "lightbox.studio.training", qos: .utility)

    public init(store: StudioStore) {
        self.store = store
    }

    /// Starts a run; throws `conflict` when the project already has one in progress.
    public func start(projectId: Int64, options: RunOptions) throws -> RunRecord {
        let classes = try store.classes(projectId: projectId)
        guard classes.filter({ $0.1 > 0 }).count >= 2 else {
            throw StudioError(.badRequest, "training needs at least two classes with images")
        }
        let json = String(decoding: try JSONEncoder().encode(options), as: UTF8.self)
        let record = try store.createRun(projectId: projectId, options: json)
        let id = record.id!
        // The data set: a CSV list beside the image folder, so its paths stay inside the data directory.
        let csv = store.directory.appendingPathComponent("dataset-run-\(id).csv")
        var text = "path,label,group\n"
        let names = Dictionary(uniqueKeysWithValues: classes.map { ($0.0.id!, $0.0.name) })
        for image in try store.images(projectId: projectId) {
            let relative = "images/\(image.sha256.prefix(2))/\(image.sha256)"
            let group = image.groupName.map { "g:\($0)" } ?? "image:\(image.id!)"
            text += CSVText.row([relative, names[image.classId] ?? "?", group])
        }
        try AtomicFile.write(Data(text.utf8), to: csv.path)
        let config = try options.configuration(data: csv.path, output: store.runDirectory(id).path)
        set(id) { $0.totalEpochs = config.training.epochs }
        queue.async { self.execute(id, config) }
        return record
    }

    private func execute(_ id: Int64, _ config: TrainingConfiguration) {
        try? store.updateRun(id) { $0.status = "running" }
        let reporter = Reporting(manager: self, id: id)
        do {
            let summary = try TrainingRun.run(config, reporter: reporter)
            let metrics = try? String(contentsOf: URL(fileURLWithPath: summary.runDirectory).appendingPathComponent("metrics.json"),
                                      encoding: .utf8)
            set(id) { $0.stage = "finished" }
            try? store.updateRun(id) {
                $0.status = "finished"
                $0.metrics = metrics
                $0.progress = self.progressJSON(id)
                $0.finished = Date()
            }
        } catch {
            set(id) { $0.stage = "failed" }
            try? store.updateRun(id) {
                $0.status = "failed"
                $0.error = "\(error)"
                $0.progress = self.progressJSON(id)
                $0.finished = Date()
            }
        }
        try? FileManager.default.removeItem(at: store.directory.appendingPathComponent("dataset-run-\(id).csv"))
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
        guard run.status == "finished" else { throw StudioError(.conflict, "run \(id) is \(run.status), not finished") }
        let p = try Predictor(model: store.runDirectory(id).appendingPathComponent("model").path)
        lock.lock()
        predictors[id] = p
        lock.unlock()
        return p
    }

    /// Forwards a run's progress into the manager and, per epoch, into the store.
    struct Reporting: Reporter {
        let manager: RunManager
        let id: Int64

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
