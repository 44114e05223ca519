import LightboxCore

/// A data set cut for cross-fitting: K folds and an optional held-out test set. No group
/// (patient) has images in two of them, so a member trained on every fold but k never saw a
/// picture of fold k's patients, and none of them saw the test set's.
public struct CrossFitSplit: Sendable {
    /// The folds' images, each in the data set's order.
    public var folds: [[LabeledImage]]
    /// Images no fold holds (`--test-split`), in the data set's order; empty by default.
    public var test: [LabeledImage]

    /// Every image but fold `k`'s and the test set's: what member k trains on.
    public func training(excludingFold k: Int) -> [LabeledImage] {
        folds.indices.filter { $0 != k }.flatMap { folds[$0] }
    }

    /// Every fold's images (all but the test set), fold by fold.
    public var foldImages: [LabeledImage] { folds.flatMap { $0 } }
}

/// Patient-grouped, class-stratified K-fold assignment (as `Splitter` deals its three parts):
/// groups are never divided; a group's stratum is its most common label; within each stratum
/// groups are shuffled with the seed and dealt, one at a time, to the part (the test set, then
/// the folds) furthest below its share of that class's images. So every fold holds about 1/K of
/// each class's pictures, and a class with at least K groups has some in every fold.
public enum FoldSplitter {
    /// `folds` 2...20; `testFraction` in [0, 1) of the images set aside first (a class with at
    /// least K + 1 groups gives the test set one when the fraction is above 0).
    public static func split(_ images: [LabeledImage], folds: Int, testFraction: Double = 0, seed: UInt64) throws -> CrossFitSplit {
        guard (2...20).contains(folds) else { throw DatasetError("cross-fitting needs 2 to 20 folds (got \(folds))") }
        guard testFraction >= 0, testFraction < 1 else {
            throw DatasetError("the test share must be at least 0 and below 1 (got \(testFraction))")
        }
        let (byGroup, strata) = GroupStrata.of(images)

        // Part -1 is the test set; parts 0..<folds are the folds.
        let shares = [testFraction] + [Double](repeating: (1 - testFraction) / Double(folds), count: folds)
        var assignment: [String: Int] = [:]
        for label in strata.keys.sorted() {
            var generator = SeededGenerator(seed: seed, stream: "folds:\(label)")
            var groups = strata[label]!.sorted()
            groups.shuffle(using: &generator)
            let total = Double(groups.reduce(0) { $0 + byGroup[$1]!.count })
            var filled = [Double](repeating: 0, count: folds + 1)
            var start = 0
            if testFraction > 0, groups.count > folds {
                assignment[groups[0]] = -1
                filled[0] += Double(byGroup[groups[0]]!.count)
                start = 1
            }
            for group in groups[start...] {
                // The first part furthest below its share (ties: the test set, then the lowest fold).
                var best = 0, bestDeficit = -Double.infinity
                for part in shares.indices where shares[part] > 0 {
                    let deficit = shares[part] * total - filled[part]
                    if deficit > bestDeficit { (best, bestDeficit) = (part, deficit) }
                }
                assignment[group] = best - 1
                filled[best] += Double(byGroup[group]!.count)
            }
        }
        return CrossFitSplit(folds: (0..<folds).map { k in images.filter { assignment[$0.group] == k } },
                             test: images.filter { assignment[$0.group] == -1 })
    }
}
