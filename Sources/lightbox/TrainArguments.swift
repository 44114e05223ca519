import ArgumentParser
import LightboxData
import LightboxHead
import LightboxImaging
import LightboxWorkflows

/// `train`'s own options, in the order its help lists them: where the run goes, the design
/// (method, folds, split), the optimiser, then evaluation. Ranges, defaults and help come from
/// `TrainingOptionRules`, shared with the Studio.
struct TrainArguments: ParsableArguments {
    @Option(help: "Run directory (default: runs/run-DATE-TIME).")
    var out: String?

    @Option(help: ruleHelp(.method)) var method = TrainingMethod.finetune.rawValue
    @Option(help: ruleHelp(.folds)) var folds = 5
    @Option(help: ruleHelp(.testSplit)) var testSplit = 0.0
    @Option(help: ruleHelp(.split)) var split = "70/15/15"
    @Option(help: ruleHelp(.ensemble)) var ensemble: Int?
    @Option(help: ruleHelp(.seed)) var seed: UInt64 = 42
    @Option(help: "\(TrainingOptionRules.commandLineHelp(.epochs)) Default: 50 with --method head, 6 with --method finetune.")
    var epochs: Int?
    @Option(help: ruleHelp(.batchSize)) var batchSize = 16
    @Option(help: ruleHelp(.learningRate)) var learningRate: Float = 0.001
    @Option(help: ruleHelp(.unfreeze)) var unfreeze = FineTuneOptions().unfreeze
    @Option(help: ruleHelp(.denseUnits)) var denseUnits = 100
    @Option(help: ruleHelp(.dropout)) var dropout: Float = 0
    @Option(help: ruleHelp(.earlyStopping)) var earlyStopping = 0
    @Flag(help: ruleHelp(.classWeights)) var classWeights = false
    @Option(help: ruleHelp(.balance)) var balance = "none"

    @Option(help: ruleHelp(.resize)) var resize: ResizePolicy = .crop
    @Option(help: ruleHelp(.equalize)) var equalize = "none"
    @Option(help: ruleHelp(.crop)) var crop = "none"
    @Option(help: ruleHelp(.positive)) var positive: String?
    @Option(help: ruleHelp(.targetSensitivity)) var targetSensitivity = 0.85

    @Option(help: "Backbone: mobilenet_v2 (torchvision ImageNet weights, default) or tm:PATH (the MobileNet inside a Teachable Machine export folder or zip).")
    var backbone = "mobilenet_v2"

    @Flag(help: "Do not read or write the embedding cache.")
    var noCache = false

    /// Sets these options on `config` (not yet checked: `Train.apply` checks them all at once).
    func set(on config: inout TrainingConfiguration) throws {
        config.split = try TrainingOptionRules.parseSplit(split)
        config.balance = try TrainingOptionRules.parseBalance(balance)
        let chosen = try TrainingOptionRules.parseMethod(method)
        config.method = chosen
        config.ensemble = ensemble
        config.folds = folds
        config.testSplit = testSplit / 100
        config.fineTune.unfreeze = unfreeze
        var t = TrainingOptions()
        t.epochs = epochs ?? (chosen == .finetune ? FineTuneOptions.defaultEpochs : t.epochs); t.batchSize = batchSize; t.learningRate = learningRate; t.denseUnits = denseUnits
        t.dropout = dropout; t.earlyStoppingPatience = earlyStopping; t.classWeights = classWeights; t.seed = seed
        config.training = t
        config.resize = resize
        config.equalization = try TrainingOptionRules.parseEqualization(equalize)
        config.crop = try TrainingOptionRules.parseCrop(crop)
        config.positiveClass = positive
        config.targetSensitivity = targetSensitivity
    }
}

/// How `train` draws augmented copies of each member's training pictures.
struct AugmentationArguments: ParsableArguments {
    @Option(help: ruleHelp(.augmentCopies)) var augmentCopies = 0
    @Option(help: ruleHelp(.rotation)) var rotation = 10.0
    @Option(help: ruleHelp(.shift)) var shift = 0.05
    @Option(help: ruleHelp(.zoom)) var zoom = 0.1
    @Option(help: ruleHelp(.brightness)) var brightness = 0.1
    @Option(help: ruleHelp(.contrast)) var contrast = 0.1
    @Option(help: ruleHelp(.gamma)) var gamma = 0.1
    @Option(help: ruleHelp(.noise)) var noise = 2.0
    @Flag(help: ruleHelp(.hflip)) var hflip = false

    func set(on config: inout TrainingConfiguration) {
        config.augmentCopies = augmentCopies
        var ranges = AugmentationRanges()
        ranges.rotation = rotation; ranges.shift = shift; ranges.zoom = zoom; ranges.brightness = brightness
        ranges.contrast = contrast; ranges.gamma = gamma; ranges.noise = noise; ranges.horizontalFlip = hflip
        config.augmentation = ranges
    }
}

/// A training option's help, with its allowed values, from the shared rules.
func ruleHelp(_ key: TrainingOptionKey) -> ArgumentHelp {
    ArgumentHelp(TrainingOptionRules.commandLineHelp(key))
}
