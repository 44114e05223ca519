import Foundation
import LightboxData
import XCTest
@testable import LightboxStudio

/// The rule that chooses a Studio run's design from the project's patients (`StudioDesign`), and
/// how it counts them.
final class StudioDesignTests: XCTestCase {
    func design(_ counts: [(String, Int)]) -> StudioDesign {
        StudioDesign.choose(patientsPerClass: counts.map { (name: $0.0, patients: $0.1) })
    }

    /// The smallest class decides: 5 folds from 10 patients, as many folds as it has patients
    /// from 2 to 4 (5 from 5 to 9), one split below 2.
    func testFoldsFollowTheSmallestClass() {
        let expected = [0: 1, 1: 1, 2: 2, 3: 3, 4: 4, 5: 5, 6: 5, 9: 5, 10: 5, 11: 5, 500: 5]
        for (smallest, folds) in expected {
            XCTAssertEqual(design([("COVID-19", 500), ("other", smallest)]).folds, folds, "smallest class \(smallest) patients")
            XCTAssertEqual(design([("other", smallest), ("COVID-19", 500), ("third", 40)]).folds, folds, "order does not matter")
        }
    }

    func testTheReasonNamesTheClassThatDecided() {
        let full = design([("COVID-19", 12), ("other", 10)])
        XCTAssertEqual(full, StudioDesign(folds: 5, reason: "5 folds: every class has at least 10 patients"))
        XCTAssertTrue(full.crossFits)
        XCTAssertEqual(design([("COVID-19", 7), ("other", 30)]).reason, "5 folds: class 'COVID-19' has 7 patients, one or more for every fold")
        XCTAssertEqual(design([("COVID-19", 30), ("other", 3)]).reason,
                       "3 folds rather than 5: class 'other' has only 3 patients, and every fold needs a patient of each class")
        let single = design([("COVID-19", 1), ("other", 30)])
        XCTAssertFalse(single.crossFits)
        XCTAssertEqual(single.reason, "one split: class 'COVID-19' has only 1 patient, too few to cross-fit (every fold needs a patient of each class)")
        XCTAssertTrue(design([("a", 0), ("b", 30)]).reason.hasPrefix("one split: class 'a' has no patient of its own"))
        // Ties: the first class in the project's order is named.
        XCTAssertTrue(design([("b", 3), ("a", 3)]).reason.contains("class 'b'"))
        XCTAssertEqual(design([]).folds, 1)
        // A hostile name is cut, and stays text (the page inserts it as text).
        let long = String(repeating: "x", count: 300)
        XCTAssertFalse(design([(long, 2), ("b", 20)]).reason.contains(String(repeating: "x", count: 101)))
    }

    /// What the rule is for: with the folds it chooses, FoldSplitter puts a patient of every
    /// class in every fold, whatever the patients' picture counts.
    func testEveryFoldHoldsEveryClass() throws {
        for smallest in 2...12 {
            for seed: UInt64 in [1, 42, 7] {
                var images: [LabeledImage] = []
                for p in 0..<smallest {
                    // Patients with 1 to 4 pictures, unevenly.
                    for i in 0...((p * 7 + Int(seed)) % 4) {
                        images.append(LabeledImage(path: "a\(p)-\(i)", label: "a", group: "pa\(p)"))
                    }
                }
                for p in 0..<25 { images.append(LabeledImage(path: "b\(p)", label: "b", group: "pb\(p)")) }
                let counts = StudioDesign.patients(of: images.map { ($0.label, $0.group) })
                let chosen = StudioDesign.choose(patientsPerClass: [("a", counts["a"] ?? 0), ("b", counts["b"] ?? 0)])
                let split = try FoldSplitter.split(images, folds: chosen.folds, seed: seed)
                XCTAssertEqual(split.folds.count, min(5, smallest))
                for (k, fold) in split.folds.enumerated() {
                    XCTAssertEqual(Set(fold.map(\.label)), ["a", "b"], "fold \(k + 1) of \(chosen.folds), \(smallest) patients of a, seed \(seed)")
                }
            }
        }
    }

    /// Patients are groups; a group counts for the class most of its pictures have (ties: the
    /// first name), as the folds deal them; a picture without a patient id is its own group.
    func testPatientsAreCountedAsTheFoldsDealThem() {
        let images: [(label: String, group: String)] = [
            ("a", "p1"), ("a", "p1"), ("a", "p1"),  // one patient, three pictures
            ("a", "p2"), ("b", "p2"), ("b", "p2"),  // mostly b
            ("b", "p3"), ("a", "p3"),  // a tie: the first name, a
            ("b", "image:7"), ("b", "image:8"),  // no patient ids: each its own
        ]
        XCTAssertEqual(StudioDesign.patients(of: images), ["a": 2, "b": 3])
    }

    func testAMemberTrainsOnAllFoldsButOne() throws {
        let split = try SplitFractions(train: 0.6, validation: 0.2, test: 0.2)
        XCTAssertEqual(StudioDesign(folds: 5, reason: "").memberShare(split: split).train, 0.8, accuracy: 1e-12)
        XCTAssertEqual(StudioDesign(folds: 2, reason: "").memberShare(split: split).train, 0.5, accuracy: 1e-12)
        XCTAssertEqual(StudioDesign(folds: 1, reason: "").memberShare(split: split), split)
    }
}
