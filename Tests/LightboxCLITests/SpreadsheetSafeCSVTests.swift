import Foundation
import LightboxTestSupport
import XCTest
import LightboxData

/// The CSV files people open in spreadsheets (`predictions.csv`, `split.csv`, `skipped.csv`,
/// `evaluate`'s predictions) never hold a cell a spreadsheet would run as a formula: class
/// names such as `=1+2*3` or `@SUM(A1)` and items beginning with `-` come out with a single
/// quote in front (OWASP's rule), read back here with Python's csv module.
final class SpreadsheetSafeCSVTests: TemporaryFolderTestCase {
    static let classes = ["=1+2*3", "@SUM(A1)"]

    /// A CSV list named `-list.csv` (its skipped rows are named `-list.csv:N ...`) of 8 + 8 real
    /// X-rays in the two formula-like classes, and a row whose file is missing.
    func makeList() throws -> URL {
        let shared = try DatasetLoader.load(CLI.shared.appendingPathComponent("data/covid-chestxray").path, saltFolder: TestSettings.local.home)
        var rows = "path,label\n"
        for (label, finding) in zip(Self.classes, ["COVID-19", "OTHER"]) {
            for path in shared.images.filter({ $0.label == finding }).prefix(8).map(\.path) {
                let name = (path as NSString).lastPathComponent
                try FileManager.default.copyItem(atPath: path, toPath: work.appendingPathComponent(name).path)
                rows += "\(name),\(label)\n"
            }
        }
        rows += "missing.png,\(Self.classes[0])\n"
        let list = work.appendingPathComponent("-list.csv")
        try Data(rows.utf8).write(to: list)
        return list
    }

    /// The rows of a CSV file as Python's csv module reads it.
    func readCSV(_ url: URL) throws -> [[String]] {
        let p = Process()
        p.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        p.arguments = ["python3", "-c", "import csv, json, sys; print(json.dumps(list(csv.reader(open(sys.argv[1], newline='', encoding='utf-8')))))",
                       url.path]
        let out = Pipe()
        p.standardOutput = out
        try p.run()
        let data = out.fileHandleForReading.readDataToEndOfFile()
        p.waitUntilExit()
        XCTAssertEqual(p.terminationStatus, 0, "python3 could not read \(url.path)")
        return try JSONDecoder().decode([[String]].self, from: data)
    }

    func assertNoFormulaCells(_ rows: [[String]], _ name: String, file: StaticString = #filePath, line: UInt = #line) {
        for cell in rows.joined() {
            XCTAssertFalse(["=", "+", "-", "@", "\t", "\r"].contains { cell.hasPrefix($0) }, "\(name): cell '\(cell)'",
                           file: file, line: line)
        }
    }

    func column(_ rows: [[String]], _ name: String) -> [String] {
        guard let i = rows.first?.firstIndex(of: name) else { XCTFail("no column \(name)"); return [] }
        return rows.dropFirst().map { $0[i] }
    }

    func testRunFilesNeutraliseFormulaCells() throws {
        let list = try makeList()
        let run = work.appendingPathComponent("run")
        let train = try CLI.run(["train", "--method", "head", "--data", list.path, "--out", run.path, "--epochs", "2", "--folds", "1", "--split", "60/20/20"])
        XCTAssertEqual(train.status, 0, train.stderr)
        let neutralised = Set(Self.classes.map { "'" + $0 })

        let predictions = try readCSV(run.appendingPathComponent("predictions.csv"))
        assertNoFormulaCells(predictions, "predictions.csv")
        XCTAssertEqual(Array(predictions[0].suffix(3)), ["p_=1+2*3", "p_@SUM(A1)", "predicted"])
        XCTAssertFalse(predictions.count < 2)
        XCTAssertTrue(Set(column(predictions, "label")).isSubset(of: neutralised), "\(column(predictions, "label"))")
        XCTAssertTrue(Set(column(predictions, "predicted")).isSubset(of: neutralised))
        for p in column(predictions, "p_=1+2*3") { XCTAssertNotNil(Double(p), "probabilities stay numbers: \(p)") }

        let split = try readCSV(run.appendingPathComponent("split.csv"))
        assertNoFormulaCells(split, "split.csv")
        XCTAssertEqual(Set(column(split, "label")), neutralised)

        let skipped = try readCSV(run.appendingPathComponent("skipped.csv"))
        assertNoFormulaCells(skipped, "skipped.csv")
        XCTAssertEqual(column(skipped, "item"), ["'-list.csv:18 missing.png"])

        let metrics = work.appendingPathComponent("eval/metrics.json")
        let evaluate = try CLI.run(["evaluate", "--model", run.appendingPathComponent("model").path, "--data", list.path,
                                    "--out", metrics.path])
        XCTAssertEqual(evaluate.status, 0, evaluate.stderr)
        let evaluated = try readCSV(work.appendingPathComponent("eval/metrics-predictions.csv"))
        assertNoFormulaCells(evaluated, "metrics-predictions.csv")
        XCTAssertEqual(Set(column(evaluated, "label")), neutralised)
    }
}
