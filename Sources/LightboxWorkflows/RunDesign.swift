import Foundation
import LightboxData

/// How a training run divides its patients, and so what its figures rest on.
///
/// - `split` (`--folds 1`): one train/validation/test split; the headline metrics are the test
///   split's (scored by the whole ensemble), the operating point is chosen on the validation split.
/// - `crossFit` (`--folds K`, the default): K patient-grouped folds; the members of fold k train
///   on every other fold and score fold k, so every fold picture is scored out of fold, by members
///   that never saw its patient. The headline metrics, the operating point and the calibration
///   rest on every fold picture; a test set (`--test-split`) that no fold saw is scored by the
///   whole ensemble and reported beside them.
enum RunDesign {
    case split(DatasetSplit)
    case crossFit(CrossFitSplit)

    /// K (1 for one split).
    var folds: Int {
        switch self {
        case .split: 1
        case .crossFit(let c): c.folds.count
        }
    }

    /// metrics.json's `evaluation`.
    var evaluation: String {
        switch self {
        case .split: "held-out test"
        case .crossFit: "out-of-fold"
        }
    }

    /// The pictures of the headline metrics, in order: the test split, or every fold picture
    /// fold by fold.
    var scored: [LabeledImage] {
        switch self {
        case .split(let s): s.test
        case .crossFit(let c): c.foldImages
        }
    }

    /// Cross-fitting's held-out test set (empty without `--test-split`, and for one split, whose
    /// test split is `scored`).
    var heldOutTest: [LabeledImage] {
        switch self {
        case .split: []
        case .crossFit(let c): c.test
        }
    }

    /// The fold of every scored picture (cross-fitting), in `scored`'s order.
    var foldOfScored: [Int]? {
        switch self {
        case .split: nil
        case .crossFit(let c): c.folds.indices.flatMap { k in [Int](repeating: k, count: c.folds[k].count) }
        }
    }

    /// Every part with its images, for split.csv and the report's data table: train,
    /// validation, test; or fold 1 ... fold K and test.
    var parts: [(name: String, images: [LabeledImage])] {
        switch self {
        case .split(let s): DatasetSplit.Part.allCases.map { ($0.rawValue, s[$0]) }
        case .crossFit(let c): c.folds.indices.map { ("fold \($0 + 1)", c.folds[$0]) } + [("test", c.test)]
        }
    }
}
