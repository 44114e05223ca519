/// Where the largest value is: the first of equal largest values (as `max(by:)` picks).
public enum Argmax {
    /// The index of the largest element; nil when `values` is empty.
    public static func of<C: Collection>(_ values: C) -> C.Index? where C.Element: Comparable {
        values.indices.max { values[$0] < values[$1] }
    }

    /// The column of the largest value in each row of a row-major `rows x columns` matrix.
    public static func rows(_ values: [Float], columns: Int) -> [Int] {
        precondition(columns > 0 && values.count % columns == 0)
        return (0..<(values.count / columns)).map { r in (0..<columns).max { values[r * columns + $0] < values[r * columns + $1] }! }
    }
}
