import Foundation
import LightboxData
import LightboxHead
import LightboxImaging
import LightboxModels

/// Every training option `lightbox train` and the Studio take, by its name in the Studio's API
/// (camelCase, the raw value), in the order `GET /api/options` lists them.
public enum TrainingOptionKey: String, CaseIterable, Codable, Sendable {
    case epochs, batchSize, learningRate, denseUnits, dropout, earlyStopping, augmentCopies, balance, split, seed, resize,
         equalize, positive, classWeights, rotation, shift, zoom, brightness, contrast, gamma, noise, hflip, method, ensemble,
         unfreeze, targetSensitivity, folds, testSplit, crop
}

/// One training option as `lightbox train` and the Studio both take it: its API key, its
/// command-line flag, what values it allows, its default and a line of help. Encoded as JSON
/// for the Studio's page.
public struct TrainingOptionRule: Codable, Sendable, Equatable {
    public enum Kind: String, Codable, Sendable {
        case integer, number, text, flag
    }

    /// The name in the Studio's API (camelCase; encoded as that string).
    public var key: TrainingOptionKey
    /// The `lightbox train` flag.
    public var flag: String
    public var kind: Kind
    /// Bounds of numeric options (nil: unbounded that way); `...Exclusive` when the bound itself is refused.
    public var minimum: Double?
    public var minimumExclusive = false
    public var maximum: Double?
    public var maximumExclusive = false
    /// The allowed values of a text option with a fixed set.
    public var choices: [String]?
    /// The allowed values in words ("1-1000", "above 0 and below 10").
    public var range: String
    /// The default, as the flag would take it.
    public var defaultValue: String
    public var help: String
    /// Only `lightbox train` takes it (the Studio uses the default).
    public var commandLineOnly = false
}

/// Why a training option or a whole run was refused before any work; the same message from
/// the CLI (usage error, exit 64) and the Studio (400): "epochs (--epochs) must be 1-1000 (got 0)".
public struct TrainingOptionError: Error, CustomStringConvertible, Sendable, Equatable {
    /// The option's API key, or "budget" for a run over the budget.
    public let key: String
    public let description: String

    public init(key: String, _ description: String) {
        self.key = key
        self.description = description
    }

    /// A refusal of the option `key`.
    public init(_ key: TrainingOptionKey, _ description: String) {
        self.init(key: key.rawValue, description)
    }
}

/// The rules of every training option, in one place for the CLI and the Studio, and the checks
/// that apply them to a run's configuration before any work starts (`validate`; the work a run
/// may take is bounded by `checkBudget`, in TrainingBudget.swift).
public enum TrainingOptionRules {
    /// Every rule, in `TrainingOptionKey`'s order.
    public static let rules: [TrainingOptionRule] = TrainingOptionKey.allCases.map(makeRule)

    /// The rule of `key`.
    public static func rule(_ key: TrainingOptionKey) -> TrainingOptionRule { makeRule(key) }

    /// A flag's help for `lightbox train --help`: the rule's help with its range.
    public static func commandLineHelp(_ key: TrainingOptionKey) -> String {
        let r = rule(key)
        return r.kind == .flag ? r.help : "\(r.help) Allowed: \(r.range)."
    }

    static func makeRule(_ key: TrainingOptionKey) -> TrainingOptionRule {
        switch key {
        case .epochs: integer(key, 1...1000, TrainingOptions().epochs, "Epochs: passes over the training set.")
        case .batchSize: integer(key, 1...4096, TrainingOptions().batchSize, "Mini-batch size.")
        case .learningRate: number(key, above: 0, below: 10, Double(TrainingOptions().learningRate), "Adam learning rate.")
        case .denseUnits: integer(key, 1...4096, TrainingOptions().denseUnits, "Units of the hidden dense layer.")
        case .dropout: number(key, atLeast: 0, below: 1, 0, "Dropout after the hidden layer (0 = none).")
        case .earlyStopping:
            integer(key, 0...1000, 0, "Stop after this many epochs without a better validation loss, keeping the best (0 = off).")
        case .augmentCopies: integer(key, 0...20, 0, "Augmented copies of every training image (besides balancing).")
        case .balance:
            text(key, range: BalancePolicy.rule, "none",
                 "How classes are evened out in the training split: none, oversample, or augment-to:N (each class brought to N training images; the run budget bounds N).")
        case .split: text(key, range: SplitFractions.rule, "70/15/15", "Train/validation/test shares, by patient.")
        case .seed:
            TrainingOptionRule(key: key, flag: "--seed", kind: .integer, minimum: 0, maximum: Double(UInt64.max),
                               range: "0 to 2^64-1", defaultValue: "42",
                               help: "Seed for the split, augmentation, shuffling and initial weights.")
        case .resize:
            TrainingOptionRule(key: key, flag: "--resize", kind: .text, choices: ResizePolicy.allCases.map(\.rawValue),
                               range: ResizePolicy.allCases.map(\.rawValue).joined(separator: ", "), defaultValue: "crop",
                               help: "How a picture becomes square: crop, pad or stretch.")
        case .equalize:
            TrainingOptionRule(key: key, flag: "--equalize", kind: .text, choices: Equalization.allCases.map(\.rawValue),
                               range: Equalization.allCases.map(\.rawValue).joined(separator: ", "), defaultValue: "none",
                               help: "Contrast equalisation after resizing: none, clahe (OpenCV's CLAHE, clip limit 2, 8x8 tiles) or histogram (global histogram equalisation). Recorded in the model; ONNX and TF.js exports cannot include it.")
        case .positive:
            text(key, range: "one of the classes", "",
                 "Positive class for sensitivity, specificity and ROC (default: COVID-19 when present).")
        case .classWeights: flag(key, "Weigh the loss by inverse class frequency.")
        case .rotation: cli(number(key, atLeast: 0, atMost: 180, 10, "Augmentation: rotation range, degrees either way."))
        case .shift: cli(number(key, atLeast: 0, atMost: 0.5, 0.05, "Augmentation: shift range, fraction of the side."))
        case .zoom: cli(number(key, atLeast: 0, atMost: 0.9, 0.1, "Augmentation: zoom range (scale 1 ± zoom)."))
        case .brightness: cli(number(key, atLeast: 0, atMost: 1, 0.1, "Augmentation: brightness range, fraction of full scale."))
        case .contrast: cli(number(key, atLeast: 0, atMost: 1, 0.1, "Augmentation: contrast range (factor 1 ± contrast)."))
        case .gamma: cli(number(key, atLeast: 0, atMost: 0.9, 0.1, "Augmentation: gamma range (1 ± gamma)."))
        case .noise: cli(number(key, atLeast: 0, atMost: 100, 2, "Augmentation: gaussian noise, standard deviation in 0-255 units."))
        case .hflip: cli(flag(key, "Augmentation: allow horizontal flips (off: they move the heart to the right)."))
        case .method:
            TrainingOptionRule(key: key, flag: "--method", kind: .text, choices: TrainingMethod.allCases.map(\.rawValue),
                               range: "head or finetune", defaultValue: "finetune",
                               help: "finetune (default): train MobileNetV2's last feature modules and a linear head, as an ensemble (6 epochs by default); head: the blog's Teachable Machine method (frozen embeddings, Dense(100) head, 50 epochs).")
        case .ensemble:
            integer(key, 1...10, 1, "Members trained with different seeds (either method), probabilities averaged: per fold when cross-fitting (default 1), in all with --folds 1 (default 3 for finetune, 1 for head).")
        case .folds:
            cli(integer(key, 1...20, 5, "Patient-grouped cross-fitting: K folds, member k trains on every fold but k and scores fold k, so every patient is scored by a model that never saw them; the K members are the shipped ensemble. 1: a single train/validation/test split given by --split."))
        case .testSplit:
            cli(number(key, atLeast: 0, atMost: 50, 0, "With --folds above 1: percent of patients set aside as a test set no fold sees, scored by the whole ensemble and reported beside the out-of-fold figures (0 = none)."))
        case .unfreeze:
            cli(integer(key, MobileNetV2Architecture.standard.trainableModuleCounts, FineTuneOptions().unfreeze, "Fine-tuning: feature modules trained, counted from the end (5: features.14-18)."))
        case .crop:
            cli(TrainingOptionRule(key: key, flag: "--crop", kind: .text, choices: PictureCrop.allCases.map(\.rawValue),
                                   range: PictureCrop.allCases.map(\.rawValue).joined(separator: ", "), defaultValue: "none",
                                   help: "What every picture is cut to before the resize, for both methods: none (the whole picture) or lungs (its lung box from the lung locator, plus a 5% margin; --locator FILE for another locator). Recorded in the model: predict, evaluate, audit and the Studio crop alike; exports refuse such a model. Teaching: compare the out-of-fold AUC with a whole-picture run's."))
        case .targetSensitivity:
            TrainingOptionRule(key: key, flag: "--target-sensitivity", kind: .number, minimum: 0, minimumExclusive: true,
                               maximum: 1, range: "above 0 and at most 1", defaultValue: "0.85",
                               help: "Two classes: the model says the positive class when its probability reaches the threshold that catches this fraction of the positive images among the out-of-fold predictions (with --folds 1: the validation split) (stored in the model and used by predict, evaluate and the Studio).")
        }
    }

    /// Checks everything a run is asked to do against the rules; throws the first problem.
    public static func validate(_ c: TrainingConfiguration) throws {
        let t = c.training
        try check(.epochs, t.epochs)
        try check(.batchSize, t.batchSize)
        try check(.learningRate, Double(t.learningRate), shown: "\(t.learningRate)")
        try check(.denseUnits, t.denseUnits)
        try check(.dropout, Double(t.dropout), shown: "\(t.dropout)")
        try check(.earlyStopping, t.earlyStoppingPatience)
        try check(.augmentCopies, c.augmentCopies)
        if case .augmentTo(let n) = c.balance, n < 1 {
            throw refusal(.balance, "augment-to:\(n)")
        }
        let s = c.split
        let parts = [s.train, s.validation, s.test]
        guard parts.allSatisfy({ $0.isFinite && $0 >= 0 }), s.train > 0, s.test > 0, abs(parts.reduce(0, +) - 1) < 1e-6 else {
            throw refusal(.split, parts.map { number($0 * 100) }.joined(separator: "/"))
        }
        if let p = c.positiveClass, p.isEmpty { throw refusal(.positive, "''") }
        try check(.targetSensitivity, c.targetSensitivity, shown: number(c.targetSensitivity))
        try check(.ensemble, c.membersPerFold)
        try check(.folds, c.folds)
        try check(.testSplit, c.testSplit * 100, shown: number(c.testSplit * 100))
        if c.crossFits {
            // Early stopping would choose each member's epoch on the fold it is scored on.
            guard c.training.earlyStoppingPatience == 0 else {
                throw TrainingOptionError(.earlyStopping, "--early-stopping needs a validation split: it is for --folds 1 (cross-fitting scores each fold with a member that must not have chosen anything on it)")
            }
            guard c.split == (try SplitFractions()) else {
                throw TrainingOptionError(.split, "--split is for --folds 1; cross-fitting scores every patient out of fold (--test-split P sets a test set aside)")
            }
        } else if c.testSplit > 0 {
            throw TrainingOptionError(.testSplit, "--test-split is for cross-fitting (--folds 2-20); with --folds 1 the test share is the last part of --split")
        }
        if c.method == .finetune {
            try check(.unfreeze, c.fineTune.unfreeze)
            // Fine-tuning weighs its loss by class and augments every image in every epoch.
            guard c.balance == .none, c.augmentCopies == 0 else {
                throw TrainingOptionError(.method, "--balance and --augment-copies are for --method head; fine-tuning weighs the loss by class and augments every training image in every epoch")
            }
            // The head method's own settings would be ignored: refused rather than silently dropped.
            let t = c.training, defaults = TrainingOptions()
            let headOnly: [(String, Bool)] = [
                ("--learning-rate", t.learningRate != defaults.learningRate), ("--dense-units", t.denseUnits != defaults.denseUnits),
                ("--dropout", t.dropout != defaults.dropout), ("--early-stopping", t.earlyStoppingPatience != defaults.earlyStoppingPatience),
                ("--class-weights", t.classWeights != defaults.classWeights),
                ("the augmentation ranges (--rotation ... --hflip)", c.augmentation != AugmentationRanges()),
            ]
            if let (flag, _) = headOnly.first(where: { $0.1 }) {
                throw TrainingOptionError(.method, "\(flag) is for --method head; fine-tuning uses its recipe's rates, dropout, class weighting and augmentation")
            }
            guard c.teachableMachineBackbone == nil else {
                throw TrainingOptionError(.method, "--method finetune trains torchvision's MobileNetV2; --backbone tm:PATH is for --method head")
            }
        }
        if c.lungLocator != nil && c.crop != .lungs && c.auditBox != .lungs {
            throw TrainingOptionError(.crop, "--locator finds the lungs for --crop lungs or the audit's --box lungs; neither is asked for")
        }
        let a = c.augmentation
        for (key, value): (TrainingOptionKey, Double) in [(.rotation, a.rotation), (.shift, a.shift), (.zoom, a.zoom), (.brightness, a.brightness),
                                                          (.contrast, a.contrast), (.gamma, a.gamma), (.noise, a.noise)] {
            try check(key, value, shown: number(value))
        }
    }

    /// `--split` text to fractions, refused with the rules' message.
    public static func parseSplit(_ text: String) throws -> SplitFractions {
        do { return try SplitFractions(parsing: text) } catch { throw TrainingOptionError(.split, "\(error)") }
    }

    /// `--balance` text to a policy, refused with the rules' message.
    public static func parseBalance(_ text: String) throws -> BalancePolicy {
        do { return try BalancePolicy(parsing: text) } catch { throw TrainingOptionError(.balance, "\(error)") }
    }

    /// `--method` text to a method, refused with the rules' message.
    public static func parseMethod(_ text: String) throws -> TrainingMethod {
        guard let method = TrainingMethod(rawValue: text) else { throw refusal(.method, "'\(text.prefix(40))'") }
        return method
    }

    /// `--equalize` text to an equalisation, refused with the rules' message.
    public static func parseEqualization(_ text: String) throws -> Equalization {
        guard let e = Equalization(rawValue: text) else { throw refusal(.equalize, "'\(text.prefix(60))'") }
        return e
    }

    /// `--crop` text to a crop, refused with the rules' message.
    public static func parseCrop(_ text: String) throws -> PictureCrop {
        guard let crop = PictureCrop(rawValue: text) else { throw refusal(.crop, "'\(text.prefix(60))'") }
        return crop
    }

    /// `--resize` text to a policy, refused with the rules' message.
    public static func parseResize(_ text: String) throws -> ResizePolicy {
        guard let policy = ResizePolicy(rawValue: text) else { throw refusal(.resize, "'\(text.prefix(60))'") }
        return policy
    }

    // MARK: - Checks

    static func check(_ key: TrainingOptionKey, _ value: Int) throws {
        try check(key, Double(value), shown: "\(value)")
    }

    static func check(_ key: TrainingOptionKey, _ value: Double, shown: String) throws {
        let r = rule(key)
        // Written so that NaN fails every comparison and is refused.
        let aboveMinimum = r.minimum.map { r.minimumExclusive ? value > $0 : value >= $0 } ?? !value.isNaN
        let belowMaximum = r.maximum.map { r.maximumExclusive ? value < $0 : value <= $0 } ?? !value.isNaN
        guard aboveMinimum && belowMaximum else { throw refusal(key, shown) }
    }

    public static func refusal(_ key: TrainingOptionKey, _ shown: String) -> TrainingOptionError {
        let r = rule(key)
        return TrainingOptionError(key, "\(key.rawValue) (\(r.flag)) must be \(r.range) (got \(shown))")
    }

    // MARK: - Building the table

    /// `batchSize` -> `--batch-size`, as argument-parser names flags.
    static func flagName(_ key: TrainingOptionKey) -> String {
        "--" + key.rawValue.map { $0.isUppercase ? "-" + $0.lowercased() : String($0) }.joined()
    }

    static func number(_ x: Double) -> String {
        x == x.rounded() && abs(x) < 1e15 ? String(Int(x)) : String(format: "%g", x)
    }

    static func integer(_ key: TrainingOptionKey, _ bounds: ClosedRange<Int>, _ value: Int, _ help: String) -> TrainingOptionRule {
        TrainingOptionRule(key: key, flag: flagName(key), kind: .integer, minimum: Double(bounds.lowerBound),
                           maximum: Double(bounds.upperBound), range: "\(bounds.lowerBound)-\(bounds.upperBound)",
                           defaultValue: "\(value)", help: help)
    }

    static func number(_ key: TrainingOptionKey, atLeast low: Double, atMost high: Double, _ value: Double, _ help: String) -> TrainingOptionRule {
        TrainingOptionRule(key: key, flag: flagName(key), kind: .number, minimum: low, maximum: high,
                           range: "\(number(low))-\(number(high))", defaultValue: number(value), help: help)
    }

    static func number(_ key: TrainingOptionKey, atLeast low: Double, below high: Double, _ value: Double, _ help: String) -> TrainingOptionRule {
        TrainingOptionRule(key: key, flag: flagName(key), kind: .number, minimum: low, maximum: high, maximumExclusive: true,
                           range: "at least \(number(low)) and below \(number(high))", defaultValue: number(value), help: help)
    }

    static func number(_ key: TrainingOptionKey, above low: Double, below high: Double, _ value: Double, _ help: String) -> TrainingOptionRule {
        TrainingOptionRule(key: key, flag: flagName(key), kind: .number, minimum: low, minimumExclusive: true, maximum: high,
                           maximumExclusive: true, range: "above \(number(low)) and below \(number(high))",
                           defaultValue: number(value), help: help)
    }

    static func text(_ key: TrainingOptionKey, range: String, _ value: String, _ help: String) -> TrainingOptionRule {
        TrainingOptionRule(key: key, flag: flagName(key), kind: .text, range: range, defaultValue: value, help: help)
    }

    static func flag(_ key: TrainingOptionKey, _ help: String) -> TrainingOptionRule {
        TrainingOptionRule(key: key, flag: flagName(key), kind: .flag, range: "on or off", defaultValue: "false", help: help)
    }

    static func cli(_ rule: TrainingOptionRule) -> TrainingOptionRule {
        var r = rule
        r.commandLineOnly = true
        return r
    }
}
