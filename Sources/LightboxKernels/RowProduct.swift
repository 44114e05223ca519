import CLightboxKernels

/// A dense layer's product, `[rows, inputs] x [outputs, inputs]^T + bias`, for the heads'
/// training steps and predictions alike,
/// each row summed on its own in one fixed order (16 lanes, then the lanes in order, then the
/// tail). A picture's result then does not depend on which pictures share its batch: sgemm
/// splits its sums differently for different row counts, which made predictions over shards
/// differ from one pass in the last bit. The products this serves are small (a head's).
public enum RowProduct {
    public static func dense(_ x: [Float], rows: Int, inputs: Int, weights: [Float], bias: [Float]?, outputs: Int) -> [Float] {
        precondition(x.count == rows * inputs && weights.count == outputs * inputs && (bias?.count ?? outputs) == outputs)
        // The C loop (row_product.c): the same order as this file's Swift loop had, with the
        // lanes fused in hardware.
        return [Float](unsafeUninitializedCapacity: rows * outputs) { z, count in
            x.withUnsafeBufferPointer { x in
                weights.withUnsafeBufferPointer { w in
                    if let bias {
                        bias.withUnsafeBufferPointer { b in
                            lightbox_row_product(x.baseAddress, rows, inputs, w.baseAddress, b.baseAddress, outputs, z.baseAddress)
                        }
                    } else {
                        lightbox_row_product(x.baseAddress, rows, inputs, w.baseAddress, nil, outputs, z.baseAddress)
                    }
                }
            }
            count = rows * outputs
        }
    }
}
