import XCTest
final class StudioPlaceholderTests: XCTestCase { func testNothingYet() {} }
