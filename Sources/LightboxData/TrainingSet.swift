import LightboxCore
import LightboxImaging

/// One example the head trains on: an image, as it is or through an augmentation.
public struct TrainingSample: Sendable, Hashable {
    public var image: LabeledImage
    public var augmentation: AugmentationDraw?

    public init(image: LabeledImage, augmentation: AugmentationDraw? = nil) {
        self.image = image
        self.augmentation = augmentation
    }
}

/// How the training split's classes are evened out.
public enum BalancePolicy: Sendable, Equatable, CustomStringConvertible {
    /// Use the training images as they are.
    case none
    /// Repeat images of smaller classes until each class matches the largest.
    case oversample
    /// Bring every class to exactly N: smaller classes get augmented copies, larger ones a
    /// seeded subset of N of their images (the 2020 blog balanced to 135 a class).
    case augmentTo(Int)

    /// What `init(parsing:)` accepts, as the option rules show it (how large N may be depends
    /// on the data: the run budget decides).
    public static let rule = "none, oversample or augment-to:N with N at least 1"

    public init(parsing text: String) throws {
        switch text {
        case "none": self = .none
        case "oversample": self = .oversample
        default:
            guard text.hasPrefix("augment-to:"), let n = Int(text.dropFirst("augment-to:".count)), n > 0 else {
                throw DatasetError("balance (--balance) must be \(Self.rule) (got '\(text.prefix(60))')")
            }
            self = .augmentTo(n)
        }
    }

    public var description: String {
        switch self {
        case .none: return "none"
        case .oversample: return "oversample"
        case .augmentTo(let n): return "augment-to:\(n)"
        }
    }
}

/// Builds the list of training samples from the training split only: augmented copies
/// are made here and nowhere else, so they can never reach validation or test.
public enum TrainingSetBuilder {
    public static func build(train: [LabeledImage], balance: BalancePolicy, augmentCopies: Int,
                             ranges: AugmentationRanges, seed: UInt64) -> (samples: [TrainingSample], notes: [String]) {
        func draw(_ image: LabeledImage, _ copy: Int) -> AugmentationDraw {
            var g = SeededGenerator(seed: seed, stream: "augment:\(image.path):\(copy)")
            return AugmentationDraw(ranges: ranges, generator: &g)
        }
        var notes: [String] = []
        let classes = Array(Set(train.map(\.label))).sorted()
        var byClass: [String: [TrainingSample]] = [:]
        var copiesMade: [String: Int] = [:]
        for image in train {
            byClass[image.label, default: []].append(TrainingSample(image: image))
            for copy in 0..<max(0, augmentCopies) {
                byClass[image.label, default: []].append(TrainingSample(image: image, augmentation: draw(image, copy)))
            }
            copiesMade[image.path] = max(0, augmentCopies)
        }
        if augmentCopies > 0 { notes.append("\(augmentCopies) augmented copies of every training image") }

        switch balance {
        case .none:
            break
        case .oversample:
            let target = byClass.values.map(\.count).max() ?? 0
            for label in classes {
                var g = SeededGenerator(seed: seed, stream: "oversample:\(label)")
                let pool = byClass[label]!.shuffled(using: &g)
                let extra = target - pool.count
                for i in 0..<max(0, extra) { byClass[label]!.append(pool[i % pool.count]) }
                if extra > 0 { notes.append("\(label): \(extra) repeated images to reach \(target)") }
            }
        case .augmentTo(let target):
            for label in classes {
                var g = SeededGenerator(seed: seed, stream: "balance:\(label)")
                var samples = byClass[label]!
                if samples.count > target {
                    notes.append("\(label): \(samples.count - target) of \(samples.count) training samples left out to balance at \(target)")
                    samples = Array(samples.shuffled(using: &g).prefix(target)).sorted { $0.image.path < $1.image.path }
                } else if samples.count < target {
                    let originals = samples.filter { $0.augmentation == nil }.map(\.image).shuffled(using: &g)
                    let extra = target - samples.count
                    for i in 0..<extra {
                        let image = originals[i % originals.count]
                        let copy = copiesMade[image.path, default: 0]
                        copiesMade[image.path] = copy + 1
                        samples.append(TrainingSample(image: image, augmentation: draw(image, copy)))
                    }
                    notes.append("\(label): \(extra) augmented copies to reach \(target)")
                }
                byClass[label] = samples
            }
        }
        return (classes.flatMap { byClass[$0]! }, notes)
    }
}
