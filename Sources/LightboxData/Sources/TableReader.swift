import CSV
import Foundation

/// Reads a CSV table with a header row into dictionaries, tolerating a UTF-8 byte-order
/// mark and CRLF line ends. A malformed table is a DatasetError naming the file.
/// The project's one CSV reader (CSV.swift underneath): data set lists, and the Studio's
/// reading of a run's predictions.
public enum TableReader {
    public struct Table: Sendable {
        public var header: [String]
        /// Each row with its 1-based line-like number (the header is row 1).
        public var rows: [(number: Int, fields: [String: String])]
    }

    public static func read(_ path: String, requiredColumns: [String]) throws -> Table {
        guard let data = FileManager.default.contents(atPath: path) else {
            throw DatasetError("\(path): cannot read file")
        }
        var bytes = [UInt8](data)
        if bytes.starts(with: [0xEF, 0xBB, 0xBF]) { bytes.removeFirst(3) }
        guard let text = String(bytes: bytes, encoding: .utf8) else {
            throw DatasetError("\(path): not UTF-8 text")
        }
        // An unterminated quote would swallow every row after it: refuse the table instead.
        if text.reduce(0, { $0 + ($1 == "\"" ? 1 : 0) }) % 2 == 1 {
            let line = text.split(separator: "\n", omittingEmptySubsequences: false)
                .firstIndex { $0.reduce(0) { $0 + ($1 == "\"" ? 1 : 0) } % 2 == 1 }.map { $0 + 1 } ?? 0
            throw DatasetError("\(path): malformed CSV: a quote opened on line \(line) is never closed")
        }
        let reader: CSVReader
        do {
            reader = try CSVReader(string: text, hasHeaderRow: true)
        } catch {
            throw DatasetError("\(path): not a readable CSV table (\(error))")
        }
        let header = (reader.headerRow ?? []).map { $0.trimmingCharacters(in: .whitespaces) }
        let missing = requiredColumns.filter { !header.contains($0) }
        guard missing.isEmpty else {
            throw DatasetError("\(path): missing column\(missing.count > 1 ? "s" : "") \(missing.joined(separator: ", ")) (header: \(header.joined(separator: ",")))")
        }
        var rows: [(Int, [String: String])] = []
        var number = 1
        while let row = reader.next() {
            number += 1
            var fields: [String: String] = [:]
            for (i, name) in header.enumerated() where i < row.count { fields[name] = row[i] }
            rows.append((number, fields))
        }
        if let error = reader.error {
            throw DatasetError("\(path): malformed CSV after row \(number) (\(error))")
        }
        return Table(header: header, rows: rows)
    }
}

/// Resolves paths named in a table against the table's folder, refusing any that would
/// leave it (absolute paths, `..`).
enum ContainedPath {
    static func resolve(_ relative: String, in base: String) -> String? {
        guard !relative.isEmpty, !relative.hasPrefix("/") else { return nil }
        let root = URL(fileURLWithPath: base).standardizedFileURL.path
        let full = URL(fileURLWithPath: root).appendingPathComponent(relative).standardizedFileURL.path
        return full.hasPrefix(root.hasSuffix("/") ? root : root + "/") ? full : nil
    }
}
