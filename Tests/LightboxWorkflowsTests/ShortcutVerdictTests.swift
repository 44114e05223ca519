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
        let high = ShortcutAudit.judge(conditions(whole: 0.9, hidden: 0.85, only: 0.7))
        XCTAssertTrue(high.shortcutSuspected)
        let inverted = ShortcutAudit.judge(conditions(whole: 0.9, hidden: 0.05, only: 0.9))
        XCTAssertTrue(inverted.shortcutSuspected, inverted.verdict)
        XCTAssertTrue(inverted.verdict.contains("wrong way round"), inverted.verdict)
        XCTAssertFalse(inverted.verdict.contains("near chance"), inverted.verdict)
        let chance = ShortcutAudit.judge(conditions(whole: 0.9, hidden: 0.52, only: 0.88))
        XCTAssertFalse(chance.shortcutSuspected, chance.verdict)
        XCTAssertTrue(chance.verdict.contains("near chance"), chance.verdict)
        let weak = ShortcutAudit.judge(conditions(whole: 0.55, hidden: 0.2, only: 0.5))
        XCTAssertFalse(weak.shortcutSuspected, "a model that barely separates anything: the audit says little")
    }
}
