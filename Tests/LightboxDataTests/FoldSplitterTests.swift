import XCTest
@testable import LightboxData

/// Cross-fitting's folds: no patient in two folds (or in a fold and the test set), every image
/// placed once, each class spread evenly over the folds, the same folds for the same seed.
final class FoldSplitterTests: XCTestCase {
    /// 40 patients of class A with 1-4 images, 12 of class B with 1-2.
    func images() -> [LabeledImage] {
        var out: [LabeledImage] = []
        for p in 0..<40 { for i in 0..<(1 + p % 4) { out.append(LabeledImage(path: "a\(p)-\(i)", label: "A", group: "pa\(p)")) } }
        for p in 0..<12 { for i in 0..<(1 + p % 2) { out.append(LabeledImage(path: "b\(p)-\(i)", label: "B", group: "pb\(p)")) } }
        return out
    }

    func testNoPatientInTwoFoldsAndEveryImagePlacedOnce() throws {
        let all = images()
        for (k, test) in [(5, 0.0), (3, 0.0), (5, 0.15), (2, 0.1)] {
            for seed: UInt64 in [1, 2, 42] {
                let split = try FoldSplitter.split(all, folds: k, testFraction: test, seed: seed)
                XCTAssertEqual(split.folds.count, k)
                let parts = split.folds + [split.test]
                for a in parts.indices {
                    for b in parts.indices where a < b {
                        XCTAssertTrue(Set(parts[a].map(\.group)).isDisjoint(with: Set(parts[b].map(\.group))), "\(k) folds, seed \(seed)")
                    }
                }
                XCTAssertEqual(parts.map(\.count).reduce(0, +), all.count)
                XCTAssertEqual(Set(parts.joined()), Set(all))
                XCTAssertEqual(test > 0, !split.test.isEmpty)
                // Member k trains on everything but fold k and the test set.
                for f in 0..<k {
                    XCTAssertEqual(Set(split.training(excludingFold: f)), Set(all).subtracting(split.folds[f]).subtracting(split.test))
                }
            }
        }
    }

    func testEachClassIsSpreadEvenlyOverTheFolds() throws {
        let all = images(), k = 5
        let split = try FoldSplitter.split(all, folds: k, seed: 3)
        for label in ["A", "B"] {
            let total = Double(all.filter { $0.label == label }.count)
            for fold in split.folds {
                let share = Double(fold.filter { $0.label == label }.count)
                XCTAssertGreaterThan(share, 0, "every fold has class \(label): it has at least \(k) patients")
                // Within one patient's images (at most 4) of an even share.
                XCTAssertEqual(share, total / Double(k), accuracy: 4)
            }
        }
    }

    func testSameSeedSameFoldsOtherSeedOtherFolds() throws {
        let a = try FoldSplitter.split(images(), folds: 5, seed: 7), b = try FoldSplitter.split(images(), folds: 5, seed: 7)
        XCTAssertEqual(a.folds, b.folds)
        let c = try FoldSplitter.split(images(), folds: 5, seed: 8)
        XCTAssertNotEqual(a.folds, c.folds)
    }

    func testRefusesFoldCountsAndTestSharesOutOfRange() {
        for k in [0, 1, 21] { XCTAssertThrowsError(try FoldSplitter.split(images(), folds: k, seed: 1)) }
        for t in [-0.1, 1.0] { XCTAssertThrowsError(try FoldSplitter.split(images(), folds: 5, testFraction: t, seed: 1)) }
    }
}
