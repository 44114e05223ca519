import Foundation
import LightboxTestSupport
import XCTest
import LightboxData
@testable import LightboxWorkflows

/// Two CSV writers: `row` is faithful (machine-read lists such as the Studio's data set list
/// keep a class named `-ve` as `-ve`); `spreadsheetRow` neutralises formula-like cells.
final class CSVTextTests: XCTestCase {
    func testSpreadsheetRowNeutralisesEachFormulaStart() {
        for start in ["=", "+", "-", "@", "\t", "\r"] {
            XCTAssertEqual(CSVText.spreadsheetField(start + "x"), "'" + start + "x")
        }
        XCTAssertEqual(CSVText.spreadsheetRow(["=1+2*3", "@SUM(A1)", "-cmd", "+1", "plain", "0.250000", ""]),
                       "'=1+2*3,'@SUM(A1),'-cmd,'+1,plain,0.250000,\n")
        // Quoting still applies after the prefix; a leading CR (even as part of CRLF) counts.
        XCTAssertEqual(CSVText.spreadsheetRow(["=HYPERLINK(\"x\",\"y\")"]), "\"'=HYPERLINK(\"\"x\"\",\"\"y\"\")\"\n")
        XCTAssertEqual(CSVText.spreadsheetRow(["\r\nA"]), "\"'\r\nA\"\n")
        // Only the first character matters.
        XCTAssertEqual(CSVText.spreadsheetRow(["a=b", "COVID-19"]), "a=b,COVID-19\n")
    }

    func testRowStaysFaithful() {
        XCTAssertEqual(CSVText.row(["-ve", "=1+2*3", "@x", "a,b"]), "-ve,=1+2*3,@x,\"a,b\"\n")
        // A CRLF inside a value is quoted too (Swift sees "\r\n" as one Character).
        XCTAssertEqual(CSVText.row(["A\r\nB", "C"]), "\"A\r\nB\",C\n")
    }

    /// A data set list written with `row` reads back through Lightbox's CSV source unchanged.
    func testFaithfulListReadsBackThroughTheCSVSource() throws {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("lightbox-csvtext-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: dir) }
        var text = CSVText.row(["path", "label", "group"])
        for (i, label) in ["-ve", "=1+2*3", "@SUM(A1)", "+ve"].enumerated() {
            try Data([0x89]).write(to: dir.appendingPathComponent("\(i).png"))
            text += CSVText.row(["\(i).png", label, "-g\(i)"])
        }
        try Data(text.utf8).write(to: dir.appendingPathComponent("list.csv"))
        let dataset = try DatasetLoader.load(dir.appendingPathComponent("list.csv").path, saltFolder: TestSettings.local.home)
        XCTAssertEqual(dataset.images.map(\.label), ["-ve", "=1+2*3", "@SUM(A1)", "+ve"])
        XCTAssertEqual(dataset.images.map(\.group), ["group:-g0", "group:-g1", "group:-g2", "group:-g3"])
    }
}
