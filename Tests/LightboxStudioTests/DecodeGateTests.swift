import Foundation
import XCTest
@testable import LightboxStudio

/// The decoding budget holds for imports too: an import's decode waits while uploads hold the
/// budget, and runs once they release it; the cap on waiting requests does not cut an import short.
final class DecodeGateTests: XCTestCase {
    func testAnImportWaitsForTheBudgetUploadsHold() async throws {
        let first = Fixture.trainingImages.appendingPathComponent("Class 1/0.png")
        let bytes = [UInt8](try Data(contentsOf: first))
        // No room for waiting requests: a second upload is turned away (503), an import is not.
        let gate = DecodeGate(budgetBytes: 64 << 20, concurrency: 2, maxPixels: 50_000_000, maxWaiting: 0)
        // An upload holds the whole budget.
        let held = gate.budgetBytes
        try await gate.admissionForTests.acquire(held)
        do {
            _ = try await gate.decode(bytes, name: "another upload")
            XCTFail("a request beyond the waiting cap is refused")
        } catch let e as StudioError {
            XCTAssertEqual(e.kind, .unavailable, "\(e)")
        }

        let decoded = expectation(description: "the import's decode ran")
        let ran = Flag()
        DispatchQueue.global().async {
            do {
                let width = try gate.admitWaiting(bytes, name: first.path) { () -> Int in
                    ran.set()
                    return try gate.decoder.decode(data: bytes, path: first.path).width
                }
                XCTAssertGreaterThan(width, 0)
            } catch {
                XCTFail("\(error)")
            }
            decoded.fulfill()
        }
        try await Task.sleep(nanoseconds: 300_000_000)
        XCTAssertFalse(ran.value, "decoded while the budget was held")
        await gate.admissionForTests.release(held)
        await fulfillment(of: [decoded], timeout: 10)
        XCTAssertTrue(ran.value)
    }

    final class Flag: @unchecked Sendable {
        private let lock = NSLock()
        private var set_ = false
        func set() { lock.lock(); set_ = true; lock.unlock() }
        var value: Bool { lock.lock(); defer { lock.unlock() }; return set_ }
    }
}
