import Foundation
import LightboxWorkflows
import LightboxHead

/// Shows a workflow's progress on stderr.
final class TerminalReporter: Reporter, @unchecked Sendable {
    private var bars: [String: Terminal.Progress] = [:]
    private let lock = NSLock()

    func note(_ line: String) { Terminal.note(line) }

    func progress(_ stage: String, done: Int, total: Int) {
        guard total > 0 else { return }
        lock.lock()
        let bar = bars[stage] ?? Terminal.Progress(stage)
        bars[stage] = bar
        lock.unlock()
        bar.update(done, total)
    }

    func epoch(_ r: EpochRecord, of total: Int) {
        var line = String(format: "epoch %3d/%d  loss %.4f  accuracy %.3f", r.epoch, total, r.trainLoss, r.trainAccuracy)
        if let l = r.valLoss, let a = r.valAccuracy { line += String(format: "  val_loss %.4f  val_accuracy %.3f", l, a) }
        Terminal.note(line)
    }
}
