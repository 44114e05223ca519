import LightboxCore
import Foundation

/// Runs each kind of bf16 product once on the native kernels and on their emulation and
/// compares: a CPU or oneDNN build whose bf16 kernels refuse a shape or disagree then falls
/// back to fp32 instead of running them.
enum BF16SelfCheck {
    /// nil when the native bf16 products agree with their emulation; else what went wrong.
    static func failure() -> String? {
        // Values whose products are exact in bf16's 8-bit mantissa would hide a wrong rounding;
        // these are not.
        func values(_ count: Int, _ seed: Int) -> [Float] { (0..<count).map { Float(sin(Double($0 * 7 + seed) * 0.37)) } }
        do {
            // A 1x1 convolution with a residual sum and ReLU6, as MobileNetV2 runs them.
            let spec = ConvolutionSpec(inputChannels: 32, outputChannels: 24, kernel: 1, activation: .relu6, accumulate: true)
            let input = values(2 * 32 * 5 * 5, 1), weights = values(24 * 32, 2), bias = values(24, 3), residual = values(2 * 24 * 5 * 5, 4)
            var outputs: [[Float]] = []
            for arithmetic in [Arithmetic.bf16, .bf16Emulated] {
                let source = AlignedBuffer(count: input.count), destination = AlignedBuffer(count: residual.count)
                source.pointer.update(from: input, count: input.count)
                destination.pointer.update(from: residual, count: residual.count)
                let convolution = try DNNLConvolution(spec: spec, weights: weights, bias: bias, batch: 2, inputHeight: 5, inputWidth: 5,
                                                      source: source.pointer, destination: destination.pointer, arithmetic: arithmetic)
                try convolution.run(on: DNNLStream())
                outputs.append(Array(destination.buffer))
                if arithmetic == .bf16, let slow = referenceOnly(convolution.implementation) { return slow }
            }
            if let bad = mismatch(outputs[0], outputs[1]) { return "1x1 convolution: \(bad)" }
            // The three products of a fine-tuning step, with and without accumulation.
            let (m, n, k) = (196, 96, 160)  // a picture of features.14 (14x14 rows); odd shapes could pick other kernels
            let a = values(m * k, 5), b = values(k * n, 6)
            for (tA, tB, beta) in [(false, true, Float(0)), (false, false, 0), (true, false, 0), (false, true, 1)] {
                let matmul = try MatmulCache.forCurrentThread.primitive(MatmulShape(m: m, n: n, k: k, transposeA: tA, transposeB: tB,
                                                                                   accumulate: beta == 1, threads: KernelThreads.forCurrentThread))
                if let slow = referenceOnly(matmul.implementation) { return slow }
                var native = values(m * n, 7), emulated = native
                // Natively without the emulation's fallback: a refusal here is a failure.
                try BF16Products.native(transposeA: tA, transposeB: tB, m: m, n: n, k: k, a: a, b: b, beta: beta, c: &native)
                BF16Products.rowMajor(transposeA: tA, transposeB: tB, m: m, n: n, k: k, a: a, b: b, beta: beta, c: &emulated,
                                      kernels: .emulated)
                let results = [native, emulated]
                if let bad = mismatch(results[0], results[1]) { return "matrix product (transposed A \(tA), B \(tB)): \(bad)" }
            }
            return nil
        } catch {
            return "\(error)"
        }
    }

    /// oneDNN's reference implementations compute bf16 correctly but far slower than its fp32
    /// kernels: a CPU where only they run is better served by fp32.
    private static func referenceOnly(_ implementation: String) -> String? {
        implementation.hasPrefix("ref") ? "only oneDNN's reference implementation (\(implementation)) runs bf16 here, slower than fp32" : nil
    }

    /// The two compute the same products of the same bf16 values, summed in other orders:
    /// float32 sums of 160 terms of size ~1 differ by about 1e-5.
    private static func mismatch(_ x: [Float], _ y: [Float]) -> String? {
        // Written so that a NaN on either side is a mismatch.
        for i in x.indices where !(abs(x[i] - y[i]) <= 1e-4 * max(1, abs(y[i]))) {
            return "element \(i): \(x[i]) against \(y[i])"
        }
        return nil
    }
}
