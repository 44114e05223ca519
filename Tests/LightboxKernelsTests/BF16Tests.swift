import Foundation
import LightboxCore
import XCTest
@testable import LightboxKernels

/// bfloat16 arithmetic: the rounding, the choice of kernels for this CPU, and the native
/// kernels against their emulation (where the CPU has them) or oneDNN's refusal (where not).
final class BF16Tests: XCTestCase {
    func bits(_ f: Float) -> UInt32 { f.bitPattern }
    func float(_ b: UInt32) -> Float { Float(bitPattern: b) }

    /// Round to nearest, ties to even, as torch's `.to(torch.bfloat16)` gave for these values
    /// (checked with torch 2.x: 0x3F808000 -> 0x3F80, 0x3F818000 -> 0x3F82, 0x3F808001 -> 0x3F81,
    /// 0xBF808001 -> 0xBF81, 0x7F7FFFFF -> 0x7F80 (infinity), 0x00000001 -> 0x0000, NaN stays NaN).
    func testRoundingIsTorchsRoundToNearestEven() {
        let cases: [(UInt32, UInt32)] = [(0x3F80_0000, 0x3F80_0000), (0x3F80_8000, 0x3F80_0000), (0x3F81_8000, 0x3F82_0000),
                                         (0x3F80_8001, 0x3F81_0000), (0xBF80_8001, 0xBF81_0000), (0x7F7F_FFFF, 0x7F80_0000),
                                         (0x7F80_0000, 0x7F80_0000), (0x0000_0001, 0x0000_0000), (0x8040_0000, 0x8040_0000)]
        let rounded = BF16Rounding.rounded(cases.map { float($0.0) })
        for (i, (input, expected)) in cases.enumerated() {
            XCTAssertEqual(bits(rounded[i]), expected, String(format: "0x%08X", input))
        }
        XCTAssertTrue(BF16Rounding.rounded([float(0x7FC0_0001)])[0].isNaN, "a NaN stays a NaN")
        // The bf16 bits the native kernels read are the top halves of those values.
        let operand = BF16Operand(count: cases.count, kernels: .native)
        cases.map { float($0.0) }.withUnsafeBufferPointer { operand.fill(from: $0.baseAddress!, count: cases.count) }
        let halves = operand.raw.assumingMemoryBound(to: UInt16.self)
        for (i, (_, expected)) in cases.enumerated() { XCTAssertEqual(UInt32(halves[i]) << 16, expected) }
    }

    /// What this CPU can do decides the default: oneDNN's bf16 kernels are used exactly when
    /// /proc/cpuinfo lists avx512_bf16 (and they pass their self-check there).
    func testSupportFollowsTheCPU() throws {
        let cpuinfo = try String(contentsOfFile: "/proc/cpuinfo", encoding: .utf8)
        let hasBF16 = cpuinfo.split(separator: "\n").first { $0.hasPrefix("flags") }?.split(separator: " ").contains("avx512_bf16") ?? false
        let support = BF16Support.detected
        XCTAssertEqual(support.available, hasBF16, support.reason)
        let chosen = PrecisionChoice.choose(requested: nil)
        XCTAssertEqual(chosen.arithmetic, hasBF16 ? .bf16 : .fp32)
        XCTAssertEqual(chosen.note == nil, hasBF16, "a note exactly when the default falls back to fp32")
        if !hasBF16 { XCTAssertTrue(support.reason.contains("AVX-512 BF16"), support.reason) }
    }

    func testChoiceForEachRequest() {
        let without = BF16Support(available: false, reason: "this CPU has no AVX-512 BF16")
        let with = BF16Support(available: true, reason: "")
        XCTAssertEqual(PrecisionChoice.choose(requested: nil, support: with).arithmetic, .bf16)
        XCTAssertNil(PrecisionChoice.choose(requested: nil, support: with).note)
        let fallback = PrecisionChoice.choose(requested: nil, support: without)
        XCTAssertEqual(fallback.arithmetic, .fp32)
        XCTAssertEqual(fallback.note, "computing in fp32: this CPU has no AVX-512 BF16 (bf16 is the default where it is)")
        let emulated = PrecisionChoice.choose(requested: .bf16, support: without)
        XCTAssertEqual(emulated.arithmetic, .bf16Emulated)
        XCTAssertTrue(emulated.note?.contains("emulated") ?? false)
        XCTAssertEqual(PrecisionChoice.choose(requested: .bf16, support: with).arithmetic, .bf16)
        for support in [with, without] {
            XCTAssertEqual(PrecisionChoice.choose(requested: .fp32, support: support).arithmetic, .fp32)
            XCTAssertNil(PrecisionChoice.choose(requested: .fp32, support: support).note)
        }
        XCTAssertEqual(Arithmetic.fp32.cacheTag, "", "fp32 cache keys stay those made before precision existed")
        XCTAssertEqual(Arithmetic.bf16.cacheTag, Arithmetic.bf16Emulated.cacheTag)
    }

    func values(_ count: Int, _ seed: UInt64) -> [Float] {
        var g = SeededGenerator(seed: seed, stream: "bf16-test")
        return (0..<count).map { _ in Float(g.normal()) }
    }

    /// Runs a 1x1 convolution (MobileNetV2's features.14 expansion: 14x14, 160 -> 960, ReLU6).
    func convolve(_ arithmetic: Arithmetic, input: [Float], weights: [Float], bias: [Float]) throws -> [Float] {
        let spec = ConvolutionSpec(inputChannels: 160, outputChannels: 960, kernel: 1, activation: .relu6)
        let source = AlignedBuffer(count: input.count), destination = AlignedBuffer(count: 14 * 14 * 960)
        source.pointer.update(from: input, count: input.count)
        let convolution = try DNNLConvolution(spec: spec, weights: weights, bias: bias, batch: 1, inputHeight: 14, inputWidth: 14,
                                              source: source.pointer, destination: destination.pointer, arithmetic: arithmetic)
        XCTAssertEqual(convolution.arithmetic, arithmetic)
        try convolution.run(on: DNNLStream())
        return Array(destination.buffer)
    }

    /// The emulation is the fp32 kernel on rounded operands, exactly; and it is not fp32.
    func testEmulatedConvolutionIsFP32OnRoundedOperands() throws {
        let input = values(14 * 14 * 160, 1), weights = values(960 * 160, 2).map { $0 * 0.1 }, bias = values(960, 3)
        let emulated = try convolve(.bf16Emulated, input: input, weights: weights, bias: bias)
        let onRounded = try convolve(.fp32, input: BF16Rounding.rounded(input), weights: BF16Rounding.rounded(weights), bias: bias)
        XCTAssertEqual(emulated, onRounded)
        let exact = try convolve(.fp32, input: input, weights: weights, bias: bias)
        let largest = zip(emulated, exact).map { abs($0 - $1) }.max()!
        XCTAssertGreaterThan(largest, 1e-3, "bf16 rounding changed nothing")
        XCTAssertLessThan(largest, 0.1, "bf16's error on sums of 160 products of order 0.1")
        // A depthwise or strided convolution stays fp32 whatever is asked.
        let depthwise = ConvolutionSpec(inputChannels: 8, outputChannels: 8, kernel: 3, padding: 1, groups: 8)
        let buffer = AlignedBuffer(count: 8 * 25), out = AlignedBuffer(count: 8 * 25)
        let d = try DNNLConvolution(spec: depthwise, weights: values(72, 4), bias: values(8, 5), batch: 1, inputHeight: 5, inputWidth: 5,
                                    source: buffer.pointer, destination: out.pointer, arithmetic: .bf16Emulated)
        XCTAssertEqual(d.arithmetic, .fp32)
    }

    /// With AVX-512 BF16, oneDNN's bf16 convolution and matrix products give the emulation's
    /// values (other summation orders: 1e-4 relative); without it, oneDNN refuses a bf16
    /// convolution, which is why the choice falls back.
    func testNativeKernelsMatchTheEmulationOrAreRefused() throws {
        let input = values(14 * 14 * 160, 6), weights = values(960 * 160, 7).map { $0 * 0.1 }, bias = values(960, 8)
        guard BF16Support.detected.available else {
            XCTAssertThrowsError(try convolve(.bf16, input: input, weights: weights, bias: bias)) { error in
                XCTAssertTrue("\(error)".contains("oneDNN"), "\(error)")
            }
            return
        }
        let native = try convolve(.bf16, input: input, weights: weights, bias: bias)
        let emulated = try convolve(.bf16Emulated, input: input, weights: weights, bias: bias)
        for (a, b) in zip(native, emulated) { XCTAssertEqual(a, b, accuracy: 1e-4 * max(1, abs(b))) }
        // Fine-tuning's three products on features.14's shapes (a batch of 4).
        let rows = 4 * 14 * 14
        let x = values(rows * 160, 9), w = values(960 * 160, 10), dy = values(rows * 960, 11)
        func products(_ arithmetic: Arithmetic) -> [[Float]] {
            var y = [Float](repeating: 0, count: rows * 960), dx = [Float](repeating: 0, count: rows * 160)
            var dw = [Float](repeating: 0, count: 960 * 160)
            BLAS.dense(input: x, rows: rows, inputs: 160, weights: w, bias: nil, outputs: 960, output: &y, arithmetic: arithmetic)
            BLAS.inputGradient(outputGradient: dy, weights: w, rows: rows, inputs: 160, outputs: 960, gradient: &dx, arithmetic: arithmetic)
            BLAS.weightGradient(outputGradient: dy, input: x, rows: rows, inputs: 160, outputs: 960, gradient: &dw, arithmetic: arithmetic)
            return [y, dx, dw]
        }
        for (a, b) in zip(products(.bf16), products(.bf16Emulated)) {
            let scale = b.map(abs).max()!
            XCTAssertLessThan(zip(a, b).map { abs($0 - $1) }.max()!, 1e-4 * scale)
        }
    }
}
