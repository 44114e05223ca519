/// A dense layer's product for predictions, `[rows, inputs] x [outputs, inputs]^T + bias`,
/// each row summed on its own in one fixed order (16 lanes, then the lanes in order, then the
/// tail). A picture's result then does not depend on which pictures share its batch: sgemm
/// splits its sums differently for different row counts, which made predictions over shards
/// differ from one pass in the last bit. The products this serves are small (a head's).
public enum RowProduct {
    public static func dense(_ x: [Float], rows: Int, inputs: Int, weights: [Float], bias: [Float]?, outputs: Int) -> [Float] {
        precondition(x.count == rows * inputs && weights.count == outputs * inputs && (bias?.count ?? outputs) == outputs)
        var z = [Float](repeating: 0, count: rows * outputs)
        let lanes = 16, whole = inputs / lanes * lanes
        x.withUnsafeBufferPointer { x in
            weights.withUnsafeBufferPointer { w in
                for r in 0..<rows {
                    let row = x.baseAddress! + r * inputs
                    for c in 0..<outputs {
                        let column = w.baseAddress! + c * inputs
                        var sum = SIMD16<Float>()
                        var i = 0
                        while i < whole {
                            sum.addProduct(UnsafeRawPointer(row + i).loadUnaligned(as: SIMD16<Float>.self),
                                           UnsafeRawPointer(column + i).loadUnaligned(as: SIMD16<Float>.self))
                            i += lanes
                        }
                        var total: Float = 0
                        for lane in 0..<lanes { total += sum[lane] }
                        while i < inputs { total += row[i] * column[i]; i += 1 }
                        z[r * outputs + c] = total + (bias?[c] ?? 0)
                    }
                }
            }
        }
        return z
    }
}
