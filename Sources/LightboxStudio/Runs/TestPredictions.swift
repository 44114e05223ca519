import Foundation
import LightboxData
import LightboxWorkflows

/// The scored pictures' predictions of a finished run (every picture out of fold, each with the
/// fold that scored it, when the run cross-fitted; else the test split's), with the stored image
/// each row is: read from the run's `predictions.csv` with the project's CSV reader, so class
/// names holding commas, quotes or line breaks come back whole.
enum TestPredictions {
    static func load(store: StudioStore, run id: Int64) throws -> [TestPredictionResponse] {
        let run = try store.run(id)
        let file = store.runDirectory(id).appendingPathComponent("predictions.csv")
        guard FileManager.default.fileExists(atPath: file.path) else { throw StudioError(.notFound, "run \(id) has no predictions") }
        let table: TableReader.Table
        do {
            table = try TableReader.read(file.path, requiredColumns: ["path", "label", "predicted"])
        } catch {
            throw StudioError(.notFound, "run \(id): its predictions cannot be read (\(error))")
        }
        var bySHA: [String: Int64] = [:]
        for image in try store.images(projectId: run.projectId) { bySHA[image.sha256] = image.id! }
        let classes = table.header.filter { $0.hasPrefix("p_") }.map { String($0.dropFirst(2)) }
        // Cells people open in spreadsheets are written neutralised ('=x for =x); map them back.
        var className: [String: String] = [:]
        for c in classes {
            className[c] = c
            className[CSVText.spreadsheetField(c)] = c
        }
        return table.rows.map { row in
            let f = row.fields
            let sha = ((f["path"] ?? "") as NSString).lastPathComponent
            var probabilities: [String: Double] = [:]
            for c in classes { probabilities[c] = Double(f["p_" + c] ?? "") ?? 0 }
            let label = f["label"] ?? "", predicted = f["predicted"] ?? ""
            return TestPredictionResponse(imageId: bySHA[sha], label: className[label] ?? label,
                                          predicted: className[predicted] ?? predicted, probabilities: probabilities,
                                          fold: f["fold"].flatMap { Int($0) })
        }
    }
}
