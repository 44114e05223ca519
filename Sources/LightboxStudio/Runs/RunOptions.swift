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
///
/// The design is the Studio's to choose (`StudioDesign`, from the project's patients): a request
/// that sets `folds` or `testSplit` is refused (`refuseWhatTheStudioChooses`). The stored options
/// of a run record the `folds` it was given.
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
    /// Chosen by the Studio (`StudioDesign`), recorded with a run's options; refused in a request.
    public var folds: Int?
    /// `lightbox train --test-split` only; refused in a request.
    public var testSplit: Double?

    /// Refuses the options a request may not set: the design is chosen from the project's
    /// patients, and a held-out test share is the command line's.
    func refuseWhatTheStudioChooses() throws {
        if folds != nil {
            throw StudioError(.badRequest, "folds is chosen by the Studio from the project's patients (\(StudioDesign.fullFolds) folds when every class has at least \(StudioDesign.patientsForFullFolds) patients, fewer for a smaller project, one split below \(StudioDesign.fewestFolds)); lightbox train --folds sets it on the command line")
        }
        if testSplit != nil {
            throw StudioError(.badRequest, "testSplit is for lightbox train --test-split on the command line; a Studio run scores every patient out of fold")
        }
    }

    /// The run's configuration with the project's design, fully validated; any problem is a
    /// 400 with the CLI's message (without its flags), or the Studio's own where the design
    /// is the reason.
    func configuration(data: String, output: String, settings: LightboxSettings, design: StudioDesign) throws -> TrainingConfiguration {
        do {
            try refuseWhatTheStudioChooses()
            var c = try TrainingConfiguration(data: data, output: output, settings: settings)
            c.source = .csv
            c.folds = design.folds
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
            if design.crossFits {
                // What only a single split has, refused in the page's words: the CLI's name --folds 1.
                if c.split != (try SplitFractions()) {
                    throw StudioError(.badRequest, "split is for a project with one split; this one is cross-fitted (\(design.reason)): every patient is scored by a model that never saw them, so there is no split to set")
                }
                if t.earlyStoppingPatience != 0 {
                    throw StudioError(.badRequest, "earlyStopping needs a validation split, and this project is cross-fitted (\(design.reason)): each fold's model would choose its epoch on the patients it is scored on")
                }
            }
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
