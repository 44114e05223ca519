import Foundation
import LightboxCore

/// A member being trained, whatever the method: the one training loop (`MemberRun`) asks it
/// for each epoch's order of training rows, one optimiser step per batch and its validation at
/// each epoch's end. Everything a member draws (order, augmentation, dropout) is seeded by its
/// seed, epoch and step, so a result does not depend on when, or on which thread, a step runs.
public protocol TrainableMember: AnyObject {
    /// What the worker thread running a step lends it (fine-tuning: its copy of the frozen
    /// modules and its thread count; the dense head needs nothing).
    associatedtype Workspace
    /// What early stopping keeps of the member at its best epoch.
    associatedtype Snapshot

    /// Training rows (pictures, or embeddings) per epoch.
    var trainingRows: Int { get }
    /// Starts `epoch` (0-based): the order of the training rows, given the last epoch's
    /// (at first, 0..<trainingRows).
    func beginEpoch(_ epoch: Int, previousOrder: [Int]) -> [Int]
    /// One optimiser step on training `rows`: step `step` (0-based) of `totalSteps`.
    func step(rows: [Int], epoch: Int, step: Int, totalSteps: Int, workspace: Workspace) throws -> MemberStep
    /// At an epoch's end: the training accuracy when the member measures it over the whole
    /// training set (nil: the steps' count of correct answers is used), and the validation loss
    /// and accuracy (nil: no validation).
    func endEpoch(workspace: Workspace) throws -> (trainAccuracy: Double?, validation: (loss: Double, accuracy: Double)?)
    func snapshot() -> Snapshot
}

/// One optimiser step's batch mean loss and, when the member counts them, its correct answers.
public struct MemberStep: Sendable {
    public var loss: Float
    public var correct: Int?

    public init(loss: Float, correct: Int?) {
        self.loss = loss
        self.correct = correct
    }
}

/// The one training loop: a member's progress through its epochs, one batch at a time
/// (`advance`), with an epoch record at each epoch's end and, with a patience, early stopping
/// on the validation loss that keeps the best epoch's snapshot. One thread advances a run at a
/// time; its progress (`step`, `records`, `finished`) may be read from any thread meanwhile.
public final class MemberRun<Member: TrainableMember>: @unchecked Sendable {
    public let member: Member
    public let epochs: Int, batchSize: Int
    /// Stop when the validation loss has not improved for this many epochs (0: never).
    public let patience: Int
    /// Steps done.
    public var step: Int { progress.withLock { _step } }
    /// Finished epochs' records.
    public var records: [EpochRecord] { progress.withLock { _records } }
    /// The best epoch so far under early stopping (1-based) and its snapshot.
    public private(set) var best: (loss: Double, snapshot: Member.Snapshot, epoch: Int)?
    private var order: [Int]
    private var lossSum = 0.0, correct = 0
    /// Guards what other threads read while a worker advances the run.
    private let progress = NSLock()
    private var _step = 0, _records: [EpochRecord] = [], stopped = false

    public init(member: Member, epochs: Int, batchSize: Int, patience: Int = 0) {
        self.member = member
        self.epochs = max(1, epochs)
        self.batchSize = max(1, batchSize)
        self.patience = patience
        order = Array(0..<member.trainingRows)
    }

    public var stepsPerEpoch: Int { (member.trainingRows + batchSize - 1) / batchSize }
    public var totalSteps: Int { epochs * stepsPerEpoch }
    /// Every epoch run, or early stopping ended the run.
    public var finished: Bool { progress.withLock { stopped || _step >= totalSteps } }
    /// The epoch whose weights are kept: the best under early stopping, else the last run.
    public var keptEpoch: Int { best?.epoch ?? records.count }

    /// One optimiser step on the next batch; at an epoch's end, its record.
    public func advance(workspace: Member.Workspace) throws {
        precondition(!finished)
        let step = self.step, epoch = step / stepsPerEpoch, within = step % stepsPerEpoch
        if within == 0 {
            order = member.beginEpoch(epoch, previousOrder: order)
            (lossSum, correct) = (0, 0)
        }
        let start = within * batchSize
        let rows = Array(order[start..<min(start + batchSize, order.count)])
        let outcome = try member.step(rows: rows, epoch: epoch, step: step, totalSteps: totalSteps, workspace: workspace)
        lossSum += Double(outcome.loss) * Double(rows.count)
        correct += outcome.correct ?? 0
        guard (step + 1) % stepsPerEpoch == 0 else {
            progress.withLock { _step = step + 1 }
            return
        }
        let n = Double(member.trainingRows)
        let end = try member.endEpoch(workspace: workspace)
        let record = EpochRecord(epoch: epoch + 1, trainLoss: lossSum / n, trainAccuracy: end.trainAccuracy ?? Double(correct) / n,
                                 valLoss: end.validation?.loss, valAccuracy: end.validation?.accuracy)
        var stop = false
        if patience > 0, let valLoss = record.valLoss {
            if best == nil || valLoss < best!.loss { best = (valLoss, member.snapshot(), record.epoch) }
            stop = record.epoch - best!.epoch >= patience
        }
        progress.withLock {
            _step = step + 1
            _records.append(record)
            stopped = stop
        }
    }

    /// Runs to the end on this thread; `onEpoch` sees each record and may end the run early
    /// by returning false (a cancelled caller discards the result).
    public func runToEnd(workspace: Member.Workspace, onEpoch: (EpochRecord) throws -> Bool) throws {
        while !finished {
            let before = records.count
            try advance(workspace: workspace)
            if records.count > before, try !onEpoch(records[before]) { return }
        }
    }
}

/// Several members' runs trained side by side on `workspaces.count` worker threads.
public enum MemberRuns {
    /// Trains every run to the end; a worker always takes the unfinished run that has done the
    /// fewest steps and is not being stepped, so three members share two workers evenly.
    /// `afterStep` runs under a lock after each step (progress, finished epochs); `check` before
    /// each step, on the worker's thread (it throws to cancel).
    /// `throughEpoch` (0-based): stop every run at the end of that epoch (a caller that prepares
    /// something for each epoch first); nil: to the end.
    public static func train<Member>(_ runs: [MemberRun<Member>], workspaces: [Member.Workspace], throughEpoch: Int? = nil,
                                     check: () throws -> Void, afterStep: () -> Void) throws {
        let lock = NSLock()
        var running = Set<Int>(), failure: Error?
        precondition(!workspaces.isEmpty, "training needs at least one worker")
        /// Under the lock: the run to step next, or nil when none is free or all are done.
        func claim() -> Int? {
            guard failure == nil else { return nil }
            return runs.indices.filter { m in
                !running.contains(m) && !runs[m].finished && throughEpoch.map { runs[m].step < ($0 + 1) * runs[m].stepsPerEpoch } ?? true
            }.min { runs[$0].step < runs[$1].step }
        }
        // The callers' closures run only while `train` does.
        withoutActuallyEscaping(check) { check in
            withoutActuallyEscaping(afterStep) { afterStep in
                let work = { (workspace: Member.Workspace) in
                    while true {
                        lock.lock()
                        guard let m = claim() else { lock.unlock(); return }
                        running.insert(m)
                        lock.unlock()
                        do {
                            try check()
                            try runs[m].advance(workspace: workspace)
                        } catch {
                            lock.lock()
                            if failure == nil { failure = error }
                            running.remove(m)
                            lock.unlock()
                            return
                        }
                        lock.lock()
                        running.remove(m)
                        afterStep()
                        lock.unlock()
                    }
                }
                if workspaces.count <= 1 {
                    work(workspaces[0])
                } else {
                    DispatchQueue.concurrentPerform(iterations: workspaces.count) { w in work(workspaces[w]) }
                }
            }
        }
        if let failure { throw failure }
    }
}
