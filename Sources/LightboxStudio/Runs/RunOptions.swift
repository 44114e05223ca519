import Foundation
import LightboxCore
import LightboxData
import LightboxImaging
import LightboxWorkflows
import LightboxHead

/// Training options a request may set (all optional). Without `method` a Studio run uses the
/// head method (Teachable Machine's, quick on a classroom's few pictures);
/// `method: "finetune"` fine-tunes an ensemble as `lightbox train` does by default.
/// Checked by the same rules as `lightbox train` (TrainingOptionRules), before anything is stored.
public struct RunOptions: Codable, Sendable {
    public var method: String?
    public var ensemble: Int?
    public var targetSensitivity: Double?
    public var epochs: Int?
    public var batchSize: Int?
    public var learningRate: Float?
    public var denseUnits: Int?
    public var dropout: Float?
    public var earlyStopping: Int?
    public var balance: String?
    public var augmentCopies: Int?
    public var split: String?
    public var seed: UInt64?
    public var resize: String?
    public var equalize: String?
    public var positive: String?

    /// The run's configuration, fully validated; any problem is a 400 with the CLI's message.
    func configuration(data: String, output: String, settings: LightboxSettings) throws -> TrainingConfiguration {
        do {
            var c = try TrainingConfiguration(data: data, output: output, settings: settings)
            c.source = .csv
            if let v = method { c.method = try TrainingOptionRules.parseMethod(v) }
            if let v = ensemble { c.ensemble = v }
            if let v = targetSensitivity { c.targetSensitivity = v }
            var t = TrainingOptions()
            if c.method == .finetune { t.epochs = FineTuneOptions.defaultEpochs }
            if let v = epochs { t.epochs = v }
            if let v = batchSize { t.batchSize = v }
            if let v = learningRate { t.learningRate = v }
            if let v = denseUnits { t.denseUnits = v }
            if let v = dropout { t.dropout = v }
            if let v = earlyStopping { t.earlyStoppingPatience = v }
            if let v = seed { t.seed = v }
            c.training = t
            if let v = balance { c.balance = try TrainingOptionRules.parseBalance(v) }
            if let v = split { c.split = try TrainingOptionRules.parseSplit(v) }
            if let v = augmentCopies { c.augmentCopies = v }
            if let v = resize { c.resize = try TrainingOptionRules.parseResize(v) }
            if let v = equalize { c.equalization = try TrainingOptionRules.parseEqualization(v) }
            c.positiveClass = positive
            try TrainingOptionRules.validate(c)
            return c
        } catch let e as StudioError {
            throw e
        } catch {
            throw StudioError(.badRequest, Self.withoutFlags("\(error)"))
        }
    }

    /// The rules' messages name the CLI's flag beside each option ("split (--split) must be
    /// ..."); the page has fields, not flags.
    static func withoutFlags(_ message: String) -> String {
        message.replacingOccurrences(of: #" \(--[a-z][a-z-]*\)"#, with: "", options: .regularExpression)
    }
}
