import XCTest
@testable import LightboxData

final class SplitterTests: XCTestCase {
    /// 40 patients of class A with 1-4 images, 12 of class B with 1-2.
    func images() -> [LabeledImage] {
        var out: [LabeledImage] = []
        for p in 0..<40 { for i in 0..<(1 + p % 4) { out.append(LabeledImage(path: "a\(p)-\(i)", label: "A", group: "pa\(p)")) } }
        for p in 0..<12 { for i in 0..<(1 + p % 2) { out.append(LabeledImage(path: "b\(p)-\(i)", label: "B", group: "pb\(p)")) } }
        return out
    }

    func testNoPatientCrossesSplitsAndEveryImageIsPlaced() throws {
        let all = images()
        for seed: UInt64 in [1, 2, 3, 42] {
            let split = Splitter.split(all, fractions: try SplitFractions(), seed: seed)
            let groups = DatasetSplit.Part.allCases.map { Set(split[$0].map(\.group)) }
            XCTAssertTrue(groups[0].isDisjoint(with: groups[1]))
            XCTAssertTrue(groups[0].isDisjoint(with: groups[2]))
            XCTAssertTrue(groups[1].isDisjoint(with: groups[2]))
            XCTAssertEqual(Set(split.train + split.validation + split.test), Set(all))
            XCTAssertEqual(split.train.count + split.validation.count + split.test.count, all.count)
            // Stratified: both classes in every part, near the requested shares.
            for part in DatasetSplit.Part.allCases { XCTAssertEqual(Set(split[part].map(\.label)), ["A", "B"], "\(part)") }
            XCTAssertEqual(Double(split.train.count) / Double(all.count), 0.7, accuracy: 0.08)
        }
    }

    func testSameSeedSameSplitOtherSeedOtherSplit() throws {
        let f = try SplitFractions()
        let a = Splitter.split(images(), fractions: f, seed: 7), b = Splitter.split(images(), fractions: f, seed: 7)
        XCTAssertEqual(a.test, b.test)
        XCTAssertEqual(a.train, b.train)
        let c = Splitter.split(images(), fractions: f, seed: 8)
        XCTAssertNotEqual(a.test, c.test)
    }

    func testFractionsParse() throws {
        let f = try SplitFractions(parsing: "80/10/10")
        XCTAssertEqual(f.train, 0.8, accuracy: 1e-9)
        XCTAssertThrowsError(try SplitFractions(parsing: "80/20"))
        XCTAssertThrowsError(try SplitFractions(train: 0, validation: 0.5, test: 0.5))
    }
}
