import LightboxCore
import XCTest
@testable import LightboxKernels

/// RowProduct, the heads' one dense product: close to a float64 reference (relative 1e-5),
/// and each row's result the same bits whichever rows share its batch.
final class RowProductTests: XCTestCase {
    func values(_ count: Int, stream: String) -> [Float] {
        var g = SeededGenerator(seed: 11, stream: stream)
        return (0..<count).map { _ in Float(g.uniform(-1...1)) }
    }

    func testMatchesADoubleReferenceWithAndWithoutBiasAndTail() {
        // 1280 inputs (whole lanes) and 100 (a tail of 4), as the dense head's two layers.
        for (inputs, outputs) in [(1280, 100), (100, 2), (7, 3)] {
            let rows = 5, x = values(rows * inputs, stream: "x\(inputs)"), w = values(outputs * inputs, stream: "w\(inputs)")
            let bias = values(outputs, stream: "b\(inputs)")
            for b in [bias, nil] as [[Float]?] {
                let z = RowProduct.dense(x, rows: rows, inputs: inputs, weights: w, bias: b, outputs: outputs)
                for r in 0..<rows {
                    for c in 0..<outputs {
                        var sum = Double(b?[c] ?? 0), magnitude = abs(sum)
                        for i in 0..<inputs {
                            sum += Double(x[r * inputs + i]) * Double(w[c * inputs + i])
                            magnitude += abs(Double(x[r * inputs + i]) * Double(w[c * inputs + i]))
                        }
                        XCTAssertEqual(Double(z[r * outputs + c]), sum, accuracy: 1e-5 * max(magnitude, 1), "\(inputs) inputs, row \(r), output \(c)")
                    }
                }
            }
        }
    }

    func testARowsResultDoesNotDependOnItsBatch() {
        let inputs = 1280, outputs = 100, rows = 33
        let x = values(rows * inputs, stream: "batch-x"), w = values(outputs * inputs, stream: "batch-w"), b = values(outputs, stream: "batch-b")
        let whole = RowProduct.dense(x, rows: rows, inputs: inputs, weights: w, bias: b, outputs: outputs)
        for r in [0, 16, 32] {
            let alone = RowProduct.dense(Array(x[(r * inputs)..<((r + 1) * inputs)]), rows: 1, inputs: inputs, weights: w, bias: b,
                                         outputs: outputs)
            XCTAssertEqual(alone, Array(whole[(r * outputs)..<((r + 1) * outputs)]), "row \(r)")
        }
        XCTAssertEqual(RowProduct.dense([], rows: 0, inputs: inputs, weights: w, bias: b, outputs: outputs), [])
    }
}
