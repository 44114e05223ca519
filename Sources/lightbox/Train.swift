import ArgumentParser
import Foundation
import LightboxData
import LightboxImaging
import LightboxKernels
import LightboxTraining

struct Train: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Train a classifier head on frozen MobileNetV2 embeddings and evaluate it on held-out patients.",
        discussion: """
            Writes RUN_DIR/metrics.json, predictions.csv, report.html, split.csv, skipped.csv and the model \
            bundle RUN_DIR/model. Augmented copies are made from the training split only. \
            Educational and research software: the results are not a diagnosis.
            """)

    @OptionGroup var dataOptions: DataOptions

    @Option(help: "Run directory (default: runs/run-DATE-TIME).")
    var out: String?

    @Option(help: "Train/validation/test shares, by patient.")
    var split = "70/15/15"

    @Option(help: "Seed for the split, augmentation, shuffling and initial weights.")
    var seed: UInt64 = 42

    @Option(help: "none, oversample, or augment-to:N (each class brought to N training images).")
    var balance = "none"

    @Option(help: "Augmented copies of every training image (besides balancing).")
    var augmentCopies = 0

    @Option(help: "Augmentation: rotation range, degrees either way.") var rotation = 10.0
    @Option(help: "Augmentation: shift range, fraction of the side.") var shift = 0.05
    @Option(help: "Augmentation: zoom range (scale 1 ± zoom).") var zoom = 0.1
    @Option(help: "Augmentation: brightness range, fraction of full scale.") var brightness = 0.1
    @Option(help: "Augmentation: contrast range (factor 1 ± contrast).") var contrast = 0.1
    @Option(help: "Augmentation: gamma range (1 ± gamma).") var gamma = 0.1
    @Option(help: "Augmentation: gaussian noise, standard deviation in 0-255 units.") var noise = 2.0
    @Flag(help: "Augmentation: allow horizontal flips (off: they move the heart to the right).") var hflip = false

    @Option(help: "Epochs.") var epochs = 50
    @Option(help: "Mini-batch size.") var batchSize = 16
    @Option(help: "Adam learning rate.") var learningRate: Float = 0.001
    @Option(help: "Units of the hidden dense layer.") var denseUnits = 100
    @Option(help: "Dropout after the hidden layer (0 = none).") var dropout: Float = 0
    @Option(help: "Stop after this many epochs without a better validation loss, keeping the best (0 = off).")
    var earlyStopping = 0
    @Flag(help: "Weigh the loss by inverse class frequency.") var classWeights = false

    @Option(help: "How a picture becomes square: crop, pad or stretch.")
    var resize: ResizePolicyOption = .crop

    @Option(help: "Positive class for sensitivity, specificity and ROC (default: COVID-19 when present).")
    var positive: String?

    @Flag(help: "Do not read or write the embedding cache.")
    var noCache = false

    @Option(help: "Backbone: mobilenet_v2 (torchvision ImageNet weights, default) or tm:PATH (the MobileNet inside a Teachable Machine export folder or zip).")
    var backbone = "mobilenet_v2"

    func validate() throws {
        guard epochs >= 1, batchSize >= 1, denseUnits >= 1 else { throw ValidationError("--epochs, --batch-size and --dense-units must be at least 1") }
        guard learningRate > 0 else { throw ValidationError("--learning-rate must be positive") }
        guard dropout >= 0 && dropout < 1 else { throw ValidationError("--dropout must be in [0, 1)") }
        guard augmentCopies >= 0, earlyStopping >= 0 else { throw ValidationError("--augment-copies and --early-stopping cannot be negative") }
    }

    func run() throws {
        do {
            KernelThreads.set(KernelThreads.available)
            let data = try dataOptions.resolvedPath ?? PublicDataset.ensure(log: Terminal.note)
            let formatter = DateFormatter()
            formatter.dateFormat = "yyyyMMdd-HHmmss"
            var config = try TrainingConfiguration(data: data, output: out ?? "runs/run-\(formatter.string(from: Date()))")
            config.source = dataOptions.kind
            config.covid = try dataOptions.covidOptions
            config.split = try SplitFractions(parsing: split)
            config.balance = try BalancePolicy(parsing: balance)
            config.augmentCopies = augmentCopies
            var ranges = AugmentationRanges()
            ranges.rotation = rotation; ranges.shift = shift; ranges.zoom = zoom; ranges.brightness = brightness
            ranges.contrast = contrast; ranges.gamma = gamma; ranges.noise = noise; ranges.horizontalFlip = hflip
            config.augmentation = ranges
            var t = TrainingOptions()
            t.epochs = epochs; t.batchSize = batchSize; t.learningRate = learningRate; t.denseUnits = denseUnits
            t.dropout = dropout; t.earlyStoppingPatience = earlyStopping; t.classWeights = classWeights; t.seed = seed
            config.training = t
            config.resize = ResizePolicy(rawValue: resize.rawValue)!
            config.positiveClass = positive
            config.useCache = !noCache
            if backbone.hasPrefix("tm:") {
                config.teachableMachineBackbone = String(backbone.dropFirst(3))
            } else if backbone != "mobilenet_v2" {
                throw ValidationError("--backbone takes mobilenet_v2 or tm:PATH (got '\(backbone)')")
            }

            let summary = try TrainingRun.run(config, reporter: TerminalReporter())
            let m = summary.metrics
            print("report: \(summary.reportPath)")
            print("model:  \(summary.modelDirectory)")
            var line = String(format: "test (%d images, %d patients): accuracy %.3f", m.nImages, m.nPatients, m.accuracy)
            if let auc = m.auc {
                line += String(format: ", AUC %.3f", auc)
                if let ci = m.aucCI { line += String(format: " [95%% CI %.3f-%.3f]", ci[0], ci[1]) }
            }
            if let p = m.positiveClass, let se = m.sensitivity, let sp = m.specificity {
                line += String(format: ", sensitivity (%@) %.3f, specificity %.3f", p, se, sp)
            }
            print(line)
            print("Educational and research software: not a diagnosis.")
        } catch let e as ExitCode {
            throw e
        } catch let e as ValidationError {
            throw e
        } catch {
            throw Terminal.fail(error)
        }
    }
}
