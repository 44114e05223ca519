import Foundation
import LightboxData
import LightboxHead
import LightboxReport
@testable import LightboxStudio
@testable import LightboxWorkflows
import XCTest

/// The Studio's run data and report.html say the same thing: the API hands out the `Headline`
/// the report renders (metrics.json's `headline`), not wording of its own.
final class RunHeadlineWordingTests: XCTestCase {
    /// 40 COVID-19 and 12 OTHER pictures, two a patient, a model that separates them a little.
    func metrics() -> ClassificationMetrics {
        var labels: [Int] = [], probabilities: [Float] = [], groups: [String] = []
        for i in 0..<52 {
            let positive = i < 40
            let p = (positive ? 0.45 : 0.3) + 0.4 * (Double(i) * 0.618).truncatingRemainder(dividingBy: 1)
            labels.append(positive ? 0 : 1)
            probabilities += [Float(p), Float(1 - p)]
            groups.append("p\(i / 2)")
        }
        return ClassificationMetrics(classes: ["COVID-19", "OTHER"], labels: labels, probabilities: probabilities, groups: groups,
                                     positive: 0, seed: 3)
    }

    func record(_ json: Data) -> RunRecord {
        RunRecord(id: 1, projectId: 1, status: .finished, options: "{}", progress: nil, metrics: String(decoding: json, as: UTF8.self),
                  error: nil, created: Date(), finished: Date())
    }

    func json<T: Encodable>(_ value: T) throws -> [String: Any] {
        try JSONSerialization.jsonObject(with: JSONEncoder().encode(value)) as! [String: Any]
    }

    func testRunDataCarriesTheHeadlineTheReportRenders() throws {
        let m = metrics()
        let shortcut = Headline.Shortcut(outcome: "too_few_images", suspected: false, verdict: "On 52 test images the audit cannot tell.")
        let headline = Headline(metrics: m, scope: "test", shortcut: shortcut)
        var document = RunDocument(metrics: m, epochs: nil, validationLoss: nil, validationAccuracy: nil, split: nil, skipped: nil, seconds: nil)
        document.headline = headline
        let r = record(try document.json())

        // The run page's data and the run history both hand out the stored headline, unchanged.
        let run = try json(RunResponse(r, live: nil))
        let stored = try XCTUnwrap((run["metrics"] as? [String: Any])?["headline"] as? [String: Any])
        XCTAssertEqual(NSDictionary(dictionary: stored), NSDictionary(dictionary: try json(headline)))
        let summary = try json(RunSummaryResponse(r))
        let listed = try XCTUnwrap((summary["headline"] as? [String: Any])?["headline"] as? [String: Any])
        XCTAssertEqual(NSDictionary(dictionary: listed), NSDictionary(dictionary: stored))
        // The history's own fields follow the same figures.
        let h = try XCTUnwrap(summary["headline"] as? [String: Any])
        // (As numbers read back from JSON: equal to the last bit or so.)
        XCTAssertEqual(try XCTUnwrap(h["majorityBaseline"] as? Double), try XCTUnwrap(headline.baseline?.accuracy), accuracy: 1e-12)
        let aucCI = try XCTUnwrap(h["aucCI"] as? [Double]), headlineCI = try XCTUnwrap(headline.figures.first { $0.key == "auc" }?.interval)
        XCTAssertEqual(aucCI[0], headlineCI[0], accuracy: 1e-12)
        XCTAssertEqual(aucCI[1], headlineCI[1], accuracy: 1e-12)

        // report.html renders every text of that headline.
        let images = (0..<52).map { LabeledImage(path: "/x/\($0).png", label: $0 < 40 ? "COVID-19" : "OTHER", group: "p\($0 / 2)") }
        let html = RunReport(title: "t", dataset: Dataset(images: images, skipped: [], hasGroups: true, source: "s"),
                             parts: [(name: "test", images: images)], evaluation: .heldOutTest(images: 52, patients: 26),
                             history: [EpochRecord(epoch: 1, trainLoss: 0.5, trainAccuracy: 0.6)], keptEpoch: 1, metrics: m,
                             validation: nil, balanceNotes: [], examples: [], headline: headline, parameters: []).html()
        let text = Self.unescaped(html)
        let figures = try XCTUnwrap(stored["figures"] as? [[String: Any]])
        XCTAssertEqual(figures.count, 4)
        for f in figures {
            XCTAssertTrue(text.contains(f["text"] as! String))
            let shown = try XCTUnwrap(f["interval_text"] as? String)
            XCTAssertTrue(text.contains(shown), "\(f)")
        }
        let notes = try XCTUnwrap(stored["notes"] as? [[String: Any]])
        XCTAssertFalse(notes.isEmpty)
        for n in notes { XCTAssertTrue(text.contains(n["text"] as! String), "report lacks: \(n["text"]!)") }
        let baseline = try XCTUnwrap((stored["baseline"] as? [String: Any])?["text"] as? String)
        XCTAssertTrue(text.contains(baseline))
        XCTAssertTrue(text.contains(shortcut.verdict))
    }

    /// A run from before the headline was written gets the one `Headline` computes from its
    /// metrics.json: the same object a new run stores.
    func testOlderRunGetsTheComputedHeadline() throws {
        let m = metrics()
        let document = RunDocument(metrics: m, epochs: nil, validationLoss: nil, validationAccuracy: nil, split: nil, skipped: nil, seconds: nil)
        let r = record(try document.json())
        let run = try json(RunResponse(r, live: nil))
        let served = try XCTUnwrap((run["metrics"] as? [String: Any])?["headline"] as? [String: Any])
        XCTAssertEqual(NSDictionary(dictionary: served), NSDictionary(dictionary: try json(Headline(metrics: m, scope: "test", shortcut: nil))))
    }

    static func unescaped(_ s: String) -> String {
        [("&#39;", "'"), ("&#x27;", "'"), ("&quot;", "\""), ("&lt;", "<"), ("&gt;", ">"), ("&amp;", "&")]
            .reduce(s) { $0.replacingOccurrences(of: $1.0, with: $1.1) }
    }
}
