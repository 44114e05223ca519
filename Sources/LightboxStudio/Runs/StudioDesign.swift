import Foundation
import LightboxData

/// How a Studio run divides a project's patients, chosen by the Studio from the project itself
/// (a request cannot set it): patient-grouped cross-fitting in K folds, as `lightbox train` does
/// by default, or one train/validation/test split for a project too small to cross-fit.
///
/// The rule (`choose`): 5 folds when every class has at least 10 patients; with fewer, as many
/// folds as the smallest class has patients, down to 2, so that every fold still holds a patient
/// of every class (each fold's member is then scored on every class, and trained on every class);
/// below 2, one split, with the reason.
public struct StudioDesign: Codable, Equatable, Sendable {
    /// K (1: the single split given by the run's `split`).
    public var folds: Int
    /// Why, in the page's words ("5 folds: every class has at least 10 patients").
    public var reason: String

    /// The folds of a project large enough, and the patients every class needs for them.
    public static let fullFolds = 5
    public static let patientsForFullFolds = 10
    /// The fewest folds that cross-fit.
    public static let fewestFolds = 2

    public var crossFits: Bool { folds > 1 }

    /// The design for the classes a run trains on (those with pictures) with these patient
    /// counts (`patients(of:)`), in the project's class order (the first smallest class is the
    /// one named).
    public static func choose(patientsPerClass classes: [(name: String, patients: Int)]) -> StudioDesign {
        guard let smallest = classes.min(by: { $0.patients < $1.patients }) else {
            return StudioDesign(folds: 1, reason: "one split: the project has no pictures to train on yet")
        }
        let name = "'\(smallest.name.prefix(100))'", n = smallest.patients
        let patients = n == 0 ? "no patient of its own (each of its pictures belongs to a patient with more pictures in another class)"
            : n == 1 ? "only 1 patient" : "only \(n) patients"
        if n >= patientsForFullFolds {
            return StudioDesign(folds: fullFolds, reason: "\(fullFolds) folds: every class has at least \(patientsForFullFolds) patients")
        }
        if n >= fewestFolds {
            let k = min(fullFolds, n)
            return StudioDesign(folds: k, reason: k == fullFolds
                ? "\(k) folds: class \(name) has \(n) patients, one or more for every fold"
                : "\(k) folds rather than \(fullFolds): class \(name) has \(patients), and every fold needs a patient of each class")
        }
        return StudioDesign(folds: 1, reason: "one split: class \(name) has \(patients), too few to cross-fit (every fold needs a patient of each class)")
    }

    /// The patients of each class as the folds count them: a patient (a group: an image without
    /// a patient id is its own) belongs to the class most of its pictures have, ties to the
    /// first name in code-point order, as FoldSplitter and Splitter deal them. Keyed by class name.
    public static func patients(of images: [(label: String, group: String)]) -> [String: Int] {
        var labelsOf: [String: [String: Int]] = [:]
        for image in images { labelsOf[image.group, default: [:]][image.label, default: 0] += 1 }
        var count: [String: Int] = [:]
        for counts in labelsOf.values {
            let label = counts.max { a, b in a.value < b.value || (a.value == b.value && a.key > b.key) }!.key
            count[label, default: 0] += 1
        }
        return count
    }

    /// The share of the pictures one member trains on, for the budget's estimate before the
    /// data is divided: (K-1)/K when cross-fitting, else the split's training share.
    func memberShare(split: SplitFractions) -> SplitFractions {
        guard crossFits else { return split }
        let train = Double(folds - 1) / Double(folds)
        return (try? SplitFractions(train: train, validation: 0, test: 1 - train)) ?? split
    }
}
