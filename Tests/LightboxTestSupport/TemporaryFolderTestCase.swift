import Foundation
import XCTest

/// A test case with a fresh folder of its own (`work`), made before each test and removed after.
open class TemporaryFolderTestCase: XCTestCase {
    public var work: URL!

    override open func setUpWithError() throws {
        work = FileManager.default.temporaryDirectory.appendingPathComponent("lightbox-\(type(of: self))-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: work, withIntermediateDirectories: true)
    }

    override open func tearDownWithError() throws {
        try? FileManager.default.removeItem(at: work)
    }
}
