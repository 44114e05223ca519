import XCTest
@testable import LightboxKernels

/// oneDNN convolutions and the BLAS/pooling helpers against direct loops.
final class ConvolutionTests: XCTestCase {
    /// A direct NHWC convolution with OIHW (per-group) weights.
    func naive(_ spec: ConvolutionSpec, input: [Float], weights: [Float], bias: [Float], previous: [Float],
               n: Int, h: Int, w: Int) -> [Float] {
        let oh = spec.outputSize(h), ow = spec.outputSize(w)
        let icg = spec.inputChannels / spec.groups, ocg = spec.outputChannels / spec.groups
        var out = [Float](repeating: 0, count: n * oh * ow * spec.outputChannels)
        for b in 0..<n { for y in 0..<oh { for x in 0..<ow { for o in 0..<spec.outputChannels {
            let g = o / ocg
            var sum = bias[o]
            for i in 0..<icg { for ky in 0..<spec.kernel { for kx in 0..<spec.kernel {
                let iy = y * spec.stride - spec.padding + ky, ix = x * spec.stride - spec.padding + kx  // padding = begin
                guard iy >= 0, iy < h, ix >= 0, ix < w else { continue }
                let v = input[((b * h + iy) * w + ix) * spec.inputChannels + g * icg + i]
                sum += v * weights[((o * icg + i) * spec.kernel + ky) * spec.kernel + kx]
            } } }
            let index = ((b * oh + y) * ow + x) * spec.outputChannels + o
            if spec.accumulate { sum += previous[index] }
            if spec.activation == .relu6 { sum = min(max(sum, 0), 6) }
            if spec.activation == .relu { sum = max(sum, 0) }
            out[index] = sum
        } } } }
        return out
    }

    func random(_ count: Int, _ seed: inout UInt64) -> [Float] {
        (0..<count).map { _ in
            seed = seed &* 6364136223846793005 &+ 1442695040888963407
            return Float(Int(seed >> 40) % 2001 - 1000) / 500
        }
    }

    func check(_ spec: ConvolutionSpec, n: Int = 2, h: Int = 9, w: Int = 7) throws {
        var seed: UInt64 = 42
        let icg = spec.inputChannels / spec.groups
        let input = random(n * h * w * spec.inputChannels, &seed)
        let weights = random(spec.outputChannels * icg * spec.kernel * spec.kernel, &seed)
        let bias = random(spec.outputChannels, &seed)
        let outCount = n * spec.outputSize(h) * spec.outputSize(w) * spec.outputChannels
        let previous = random(outCount, &seed)
        let src = AlignedBuffer(count: input.count), dst = AlignedBuffer(count: outCount)
        src.pointer.update(from: input, count: input.count)
        dst.pointer.update(from: previous, count: outCount)
        let conv = try DNNLConvolution(spec: spec, weights: weights, bias: bias, batch: n, inputHeight: h, inputWidth: w,
                                       source: src.pointer, destination: dst.pointer)
        try conv.run(on: DNNLStream())
        let want = naive(spec, input: input, weights: weights, bias: bias, previous: previous, n: n, h: h, w: w)
        let worst = zip(Array(dst.buffer), want).map { abs($0 - $1) }.max()!
        XCTAssertLessThan(worst, 1e-4, "\(spec)")
    }

    func testDenseConvolutionWithStrideAndPadding() throws {
        try check(ConvolutionSpec(inputChannels: 3, outputChannels: 8, kernel: 3, stride: 2, padding: 1, activation: .relu6))
    }

    func testPointwiseConvolution() throws {
        try check(ConvolutionSpec(inputChannels: 16, outputChannels: 24, kernel: 1))
    }

    func testDepthwiseConvolution() throws {
        try check(ConvolutionSpec(inputChannels: 32, outputChannels: 32, kernel: 3, stride: 1, padding: 1, groups: 32,
                                  activation: .relu6))
        try check(ConvolutionSpec(inputChannels: 16, outputChannels: 16, kernel: 3, stride: 2, padding: 1, groups: 16))
    }

    func testAsymmetricPaddingAndPlainReLU() throws {
        // TensorFlow's stride-2 "same": nothing before, one row and column after.
        var spec = ConvolutionSpec(inputChannels: 4, outputChannels: 6, kernel: 3, stride: 2, padding: 0, activation: .relu)
        spec.paddingEnd = 1
        try check(spec, n: 1, h: 8, w: 8)
        var depthwise = ConvolutionSpec(inputChannels: 8, outputChannels: 8, kernel: 3, stride: 2, padding: 0, groups: 8)
        depthwise.paddingEnd = 1
        try check(depthwise, n: 2, h: 9, w: 9)
    }

    func testResidualAccumulation() throws {
        try check(ConvolutionSpec(inputChannels: 24, outputChannels: 16, kernel: 1, accumulate: true))
    }

    func testDenseLayerAndPooling() {
        let input: [Float] = [1, 2, 3, 4, 5, 6]           // 2 rows x 3
        let weights: [Float] = [1, 0, -1, 0.5, 0.5, 0.5]  // 2 outputs x 3
        let bias: [Float] = [10, -1]
        var out = [Float](repeating: 0, count: 4)
        out.withUnsafeMutableBufferPointer {
            BLAS.dense(input: input, rows: 2, inputs: 3, weights: weights, bias: bias, outputs: 2, output: $0.baseAddress!)
        }
        XCTAssertEqual(out, [8, 2, 8, 6.5])

        let map: [Float] = [1, 10, 3, 20, 5, 30, 7, 40]  // 2 images x 2 positions x 2 channels
        var pooled = [Float](repeating: 0, count: 4)
        pooled.withUnsafeMutableBufferPointer {
            Pooling.globalAverage(map, batch: 2, positions: 2, channels: 2, output: $0.baseAddress!)
        }
        XCTAssertEqual(pooled, [2, 15, 6, 35])
    }
}
