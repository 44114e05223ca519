import LightboxCore

/// The three parts of a data set. No group (patient) has images in two of them.
public struct DatasetSplit: Sendable {
    public enum Part: String, CaseIterable, Sendable, Codable { case train, validation, test }

    public var train: [LabeledImage]
    public var validation: [LabeledImage]
    public var test: [LabeledImage]

    public init(train: [LabeledImage], validation: [LabeledImage], test: [LabeledImage]) {
        self.train = train
        self.validation = validation
        self.test = test
    }

    public subscript(part: Part) -> [LabeledImage] {
        switch part {
        case .train: return train
        case .validation: return validation
        case .test: return test
        }
    }
}

/// Fractions of the images for training, validation and test.
public struct SplitFractions: Sendable, Equatable, Codable {
    public var train: Double, validation: Double, test: Double

    public init(train: Double = 0.70, validation: Double = 0.15, test: Double = 0.15) throws {
        guard train > 0, validation >= 0, test >= 0, abs(train + validation + test - 1) < 1e-6 else {
            throw DatasetError("split fractions must be >= 0, training > 0, and add up to 1 (got \(train)/\(validation)/\(test))")
        }
        self.train = train
        self.validation = validation
        self.test = test
    }

    /// What `init(parsing:)` accepts, as the option rules show it.
    public static let rule = "TRAIN/VALIDATION/TEST percentages adding up to 100 (or fractions adding up to 1), training and test above 0"

    /// Parses `70/15/15` or `0.7/0.15/0.15`. Anything else (`90/20/0`: 110 in all, no test set)
    /// is refused with the option rules' message.
    public init(parsing text: String) throws {
        let parts = text.split(separator: "/", omittingEmptySubsequences: false)
            .compactMap { Double($0.trimmingCharacters(in: .whitespaces)) }
        let total = parts.reduce(0, +)
        guard parts.count == 3, parts.allSatisfy({ $0.isFinite && $0 >= 0 }), parts[0] > 0, parts[2] > 0,
              abs(total - 100) < 1e-6 || abs(total - 1) < 1e-9 else {
            throw DatasetError("split (--split) must be \(Self.rule) (got '\(text.prefix(60))')")
        }
        try self.init(train: parts[0] / total, validation: parts[1] / total, test: parts[2] / total)
    }
}

/// The groups (patients) of a list of images and each group's stratum, its most common label
/// (ties: the first name): what both splitters deal, class by class.
public enum GroupStrata {
    public static func of(_ images: [LabeledImage]) -> (byGroup: [String: [LabeledImage]], strata: [String: [String]]) {
        var byGroup: [String: [LabeledImage]] = [:]
        for image in images { byGroup[image.group, default: []].append(image) }
        var strata: [String: [String]] = [:]
        for (group, members) in byGroup {
            var counts: [String: Int] = [:]
            for m in members { counts[m.label, default: 0] += 1 }
            let label = counts.max { a, b in a.value < b.value || (a.value == b.value && a.key > b.key) }!.key
            strata[label, default: []].append(group)
        }
        return (byGroup, strata)
    }
}

/// Stratified group split: groups (patients) are never divided; within each class,
/// groups are shuffled with the seed and dealt to the part furthest below its share of
/// that class's images. A class with at least three groups gets at least one in
/// validation and test (when their fractions are not zero).
public enum Splitter {
    public static func split(_ images: [LabeledImage], fractions: SplitFractions, seed: UInt64) -> DatasetSplit {
        let (byGroup, strata) = GroupStrata.of(images)

        var assignment: [String: DatasetSplit.Part] = [:]
        let parts: [(DatasetSplit.Part, Double)] = [(.test, fractions.test), (.validation, fractions.validation),
                                                     (.train, fractions.train)]
        for label in strata.keys.sorted() {
            var generator = SeededGenerator(seed: seed, stream: "split:\(label)")
            var groups = strata[label]!.sorted()
            groups.shuffle(using: &generator)
            let total = Double(groups.reduce(0) { $0 + byGroup[$1]!.count })
            var filled: [DatasetSplit.Part: Double] = [:]
            var start = 0
            if groups.count >= 3 {
                for (part, fraction) in parts where part != .train && fraction > 0 {
                    assignment[groups[start]] = part
                    filled[part, default: 0] += Double(byGroup[groups[start]]!.count)
                    start += 1
                }
            }
            for group in groups[start...] {
                let deficits = parts.map { ($0.0, $0.1 * total - filled[$0.0, default: 0]) }
                let part = deficits.max { $0.1 < $1.1 }!.0
                assignment[group] = part
                filled[part, default: 0] += Double(byGroup[group]!.count)
            }
        }
        // Keep each part in the data set's own order.
        func members(_ part: DatasetSplit.Part) -> [LabeledImage] { images.filter { assignment[$0.group] == part } }
        return DatasetSplit(train: members(.train), validation: members(.validation), test: members(.test))
    }
}
