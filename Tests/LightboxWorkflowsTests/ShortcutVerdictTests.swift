import XCTest
import LightboxImaging
@testable import LightboxWorkflows

/// The audit's verdict reads the distance from chance: an AUC far below 0.5 with the lungs
/// hidden still separates the classes (the wrong way round) and is a shortcut warning, not
/// "near chance".
final class ShortcutVerdictTests: XCTestCase {
    func conditions(whole: Double, hidden: Double, only: Double) -> [ShortcutAudit.Condition] {
        [(InputBlanking.none, whole), (.centerBlanked, hidden), (.outsideBlanked, only)].map { b, auc in
            ShortcutAudit.Condition(name: b.rawValue, description: b.rawValue, nImages: 40, accuracy: 0.5, auc: auc)
        }
    }

    func testVerdicts() {
        let high = ShortcutAudit.judge(conditions(whole: 0.9, hidden: 0.85, only: 0.7), positives: 20, negatives: 20)
        XCTAssertTrue(high.outcome == .suspected)
        let inverted = ShortcutAudit.judge(conditions(whole: 0.9, hidden: 0.05, only: 0.9), positives: 20, negatives: 20)
        XCTAssertTrue(inverted.outcome == .suspected, inverted.verdict)
        XCTAssertTrue(inverted.verdict.contains("wrong way round"), inverted.verdict)
        XCTAssertFalse(inverted.verdict.contains("near chance"), inverted.verdict)
        let chance = ShortcutAudit.judge(conditions(whole: 0.9, hidden: 0.52, only: 0.88), positives: 20, negatives: 20)
        XCTAssertFalse(chance.outcome == .suspected, chance.verdict)
        XCTAssertTrue(chance.verdict.contains("near chance"), chance.verdict)
        let weak = ShortcutAudit.judge(conditions(whole: 0.55, hidden: 0.2, only: 0.5), positives: 20, negatives: 20)
        XCTAssertFalse(weak.outcome == .suspected, "a model that barely separates anything: the audit says little")
        XCTAssertEqual(weak.outcome, .weakModel)
        XCTAssertEqual(high.outcome, .suspected)
        XCTAssertEqual(chance.outcome, .notSuspected)
    }

    /// AUC 0.31 with the lungs hidden on 8 test images (4 and 4) is within chance's reach
    /// (0.42 from 0.5); on 200 images (0.08) the same AUC is a shortcut warning.
    func testFewImagesCannotConvict() {
        let few = ShortcutAudit.judge(conditions(whole: 0.9, hidden: 0.31, only: 0.8), positives: 4, negatives: 4)
        XCTAssertEqual(few.outcome, .tooFewImages, few.verdict)
        XCTAssertFalse(few.outcome == .suspected)
        XCTAssertTrue(few.verdict.contains("too few pictures"), few.verdict)
        // 2 and 2 test images: even AUC 1.0 on whole pictures is within chance's reach.
        let tiny = ShortcutAudit.judge(conditions(whole: 1.0, hidden: 0.5, only: 1.0), positives: 2, negatives: 2)
        XCTAssertEqual(tiny.outcome, .tooFewImages, tiny.verdict)
        let many = ShortcutAudit.judge(conditions(whole: 0.9, hidden: 0.31, only: 0.8), positives: 100, negatives: 100)
        XCTAssertEqual(many.outcome, .suspected, many.verdict)
    }

    /// The AUC's standard error under chance: the Mann-Whitney U statistic's normal
    /// approximation (sigma = sqrt(n1 n2 (n1 + n2 + 1) / 12), as scipy.stats.mannwhitneyu uses
    /// without ties) divided by n1 n2, computed in Python: 50 and 50 images 0.058023; 4 and 4, 0.216506.
    func testChanceStandardError() {
        XCTAssertEqual(ShortcutAudit.chanceStandardError(positives: 50, negatives: 50), 0.058023, accuracy: 1e-6)
        XCTAssertEqual(ShortcutAudit.chanceStandardError(positives: 4, negatives: 4), 0.216506, accuracy: 1e-6)
        XCTAssertEqual(ShortcutAudit.chanceStandardError(positives: 0, negatives: 50), .infinity)
    }
}
