import Foundation
import LightboxCore
import LightboxKernels

/// MobileNetV2's last feature modules (`features.K`-`features.18`) as trainable layers:
/// convolutions without bias, batch norm in training mode (batch statistics in the forward
/// pass, running statistics updated with torch's momentum 0.1) or inference mode, ReLU6 and
/// residuals. Input: the NHWC output of `features.(K-1)`; output: the last feature map,
/// `[batch, 7, 7, 1280]`. Parameters keep torch's names and layouts, so gradients compare
/// with torch's directly.
public final class TrainableTail {
    /// One convolution and its batch norm (and ReLU6).
    public struct Unit: Sendable {
        public var spec: ConvolutionSpec
        public var weightName: String
        public var batchNormName: String
        /// Torch's layout: `[out, in]` for a 1x1 convolution, `[channels, 1, 3, 3]` depthwise.
        public var weights: [Float]
        public var gamma: [Float], beta: [Float]
        public var runningMean: [Float], runningVariance: [Float]
        var depthwise: Bool { spec.groups > 1 }
    }

    public struct Block: Sendable {
        public var units: [Unit]
        public var residual: Bool
    }

    public static let momentum: Float = 0.1
    public static let epsilon: Float = 1e-5

    public private(set) var blocks: [Block]
    /// What the 1x1 convolutions' products (forward, input and weight gradients) compute in;
    /// batch norm, ReLU6, residuals and the depthwise convolutions stay fp32. Set before the
    /// tail is shared between threads.
    public var arithmetic: Arithmetic = .fp32
    /// oneDNN's depthwise convolutions, by unit (block, index) and batch size: built on first
    /// use (training sees two batch sizes, the full one and an epoch's last; prediction at
    /// most its chunk size). Guarded by `lock`: a loaded model may predict on several threads.
    private var depthwise: [[Int]: DNNLDepthwiseConvolution] = [:]
    private let lock = NSLock()
    /// Where the network is cut: the frozen modules before these, and these.
    public let cut: MobileNetV2Architecture.Cut
    /// Side and channels of the input feature map.
    public let inputSide: Int, inputChannels: Int
    public var outputChannels: Int { blocks.last!.units.last!.spec.outputChannels }

    /// The modules from `firstModule` (1-17: inverted-residual blocks; 18: the final 1x1
    /// convolution) to the end, with `weights` (torchvision names): the trained part of the
    /// architecture's cut there.
    public init(weights: NamedTensors, architecture: MobileNetV2Architecture = .standard, firstModule: Int) throws {
        cut = try architecture.cut(firstTrained: firstModule)
        inputSide = architecture.inputSide(ofModule: cut.firstTrained)
        let chosen = try architecture.modules(cut.trained).map { ($0.units, $0.residual) }
        inputChannels = chosen[0].0[0].spec.inputChannels
        blocks = try chosen.map { units, residual in
            Block(units: try units.map { unit in
                var spec = unit.spec
                spec.accumulate = false
                let s = spec
                let c = [s.outputChannels]
                let w = try weights.tensor(unit.weight, shape: [s.outputChannels, s.inputChannels / s.groups, s.kernel, s.kernel]).values
                guard try weights.tensor("\(unit.batchNorm).running_var", shape: c).values.allSatisfy({ $0 >= 0 }) else {
                    throw WeightsError("\(weights.source): \(unit.batchNorm).running_var has negative values")
                }
                return Unit(spec: spec, weightName: unit.weight, batchNormName: unit.batchNorm, weights: w,
                            gamma: try weights.tensor("\(unit.batchNorm).weight", shape: c).values,
                            beta: try weights.tensor("\(unit.batchNorm).bias", shape: c).values,
                            runningMean: try weights.tensor("\(unit.batchNorm).running_mean", shape: c).values,
                            runningVariance: try weights.tensor("\(unit.batchNorm).running_var", shape: c).values)
            }, residual: residual)
        }
    }

    // MARK: parameters by torch name

    /// Every trainable tensor (convolution weights, batch-norm gamma and beta) by torch name.
    public var parameters: [String: [Float]] {
        var all: [String: [Float]] = [:]
        for unit in blocks.flatMap(\.units) {
            all[unit.weightName] = unit.weights
            all["\(unit.batchNormName).weight"] = unit.gamma
            all["\(unit.batchNormName).bias"] = unit.beta
        }
        return all
    }

    /// Running statistics by torch name (`NAME.running_mean`, `NAME.running_var`).
    public var runningStatistics: [String: [Float]] {
        var all: [String: [Float]] = [:]
        for unit in blocks.flatMap(\.units) {
            all["\(unit.batchNormName).running_mean"] = unit.runningMean
            all["\(unit.batchNormName).running_var"] = unit.runningVariance
        }
        return all
    }

    /// Every tensor a trained tail is saved with (trainable ones and running statistics), in
    /// torch's names and shapes: what `init(weights:firstModule:)` reads back.
    public var tensors: [String: Tensor] {
        var all: [String: Tensor] = [:]
        for unit in blocks.flatMap(\.units) {
            let s = unit.spec, c = [s.outputChannels]
            all[unit.weightName] = Tensor(shape: [s.outputChannels, s.inputChannels / s.groups, s.kernel, s.kernel], values: unit.weights)
            all["\(unit.batchNormName).weight"] = Tensor(shape: c, values: unit.gamma)
            all["\(unit.batchNormName).bias"] = Tensor(shape: c, values: unit.beta)
            all["\(unit.batchNormName).running_mean"] = Tensor(shape: c, values: unit.runningMean)
            all["\(unit.batchNormName).running_var"] = Tensor(shape: c, values: unit.runningVariance)
        }
        return all
    }

    /// Applies `change(name, values)` to every trainable tensor (an optimiser step).
    public func updateParameters(_ change: (String, inout [Float]) -> Void) {
        for b in blocks.indices {
            for u in blocks[b].units.indices {
                let names = (blocks[b].units[u].weightName, blocks[b].units[u].batchNormName)
                change(names.0, &blocks[b].units[u].weights)
                change("\(names.1).weight", &blocks[b].units[u].gamma)
                change("\(names.1).bias", &blocks[b].units[u].beta)
            }
        }
    }

    // MARK: forward

    /// What a forward pass keeps for the backward pass, unit by unit.
    public struct Trace {
        struct UnitRecord {
            var input: [Float], inputSide: Int
            var convolved: [Float]
            /// The unit's output after ReLU6 (empty without one): where it is strictly between 0
            /// and 6, so was its input, and the gradient passes.
            var activated: [Float]
            var mean: [Float], inverseStd: [Float]
        }
        var records: [UnitRecord] = []
        public let batch: Int
        /// Side of the output feature map.
        public var outputSide = 0
    }

    /// Runs the modules on `input` (`[batch, inputSide, inputSide, inputChannels]`, NHWC).
    /// `training`: batch norm uses the batch's statistics and updates the running ones.
    public func forward(_ input: [Float], batch: Int, training: Bool) throws -> (output: [Float], trace: Trace) {
        precondition(input.count == batch * inputSide * inputSide * inputChannels)
        var trace = Trace(batch: batch)
        var x = input, side = inputSide
        for b in blocks.indices {
            let blockInput = x
            for u in blocks[b].units.indices {
                let unit = blocks[b].units[u]
                let (convolved, outSide) = try convolve(unit, at: [b, u], x, batch: batch, side: side, onePictureAtATime: !training)
                let rows = batch * outSide * outSide, channels = unit.spec.outputChannels
                var mean: [Float] = [], inverseStd: [Float] = []
                // Normalised, then ReLU6 in place: one buffer per unit.
                var activated = Self.filled(convolved.count) { out in
                    convolved.withUnsafeBufferPointer { c in
                        if training {
                            let stats = BatchNormKernel.forwardTraining(c.baseAddress!, rows: rows, channels: channels, gamma: unit.gamma,
                                                                        beta: unit.beta, epsilon: Self.epsilon, output: out)
                            (mean, inverseStd) = (stats.mean, stats.inverseStd)
                            // torch: the running variance takes the unbiased batch variance.
                            let unbiased = Float(rows) / Float(max(rows - 1, 1))
                            for i in 0..<channels {
                                blocks[b].units[u].runningMean[i] = (1 - Self.momentum) * unit.runningMean[i] + Self.momentum * stats.mean[i]
                                blocks[b].units[u].runningVariance[i] = (1 - Self.momentum) * unit.runningVariance[i]
                                    + Self.momentum * stats.variance[i] * unbiased
                            }
                        } else {
                            BatchNormKernel.forwardInference(c.baseAddress!, rows: rows, channels: channels, gamma: unit.gamma, beta: unit.beta,
                                                             mean: unit.runningMean, variance: unit.runningVariance, epsilon: Self.epsilon,
                                                             output: out)
                        }
                    }
                }
                let relu = unit.spec.activation == .relu6
                if relu {
                    activated.withUnsafeMutableBufferPointer { ReLU6Kernel.forward($0.baseAddress!, count: $0.count) }
                }
                if training {
                    trace.records.append(.init(input: x, inputSide: side, convolved: convolved, activated: relu ? activated : [],
                                               mean: mean, inverseStd: inverseStd))
                }
                x = activated
                side = outSide
            }
            if blocks[b].residual {
                x.withUnsafeMutableBufferPointer { o in blockInput.withUnsafeBufferPointer { AddKernel.add(o.baseAddress!, $0.baseAddress!, count: o.count) } }
            }
        }
        trace.outputSide = side
        return (x, trace)
    }

    /// The convolution of `unit` (block and index `at`) on `x` (NHWC, `side` x `side`): its
    /// output and output side.
    ///
    /// `onePictureAtATime` runs a 1x1 convolution's product per picture: sgemm splits its sums
    /// differently for different row counts (measured: batches of 2-4 pictures differed from
    /// 1 or 5-16 in the last bit), and a prediction must not depend on which pictures share its
    /// batch (shards of a cluster job batch them differently from one local pass).
    func convolve(_ unit: Unit, at position: [Int], _ x: [Float], batch: Int, side: Int,
                  onePictureAtATime: Bool = false) throws -> ([Float], Int) {
        let s = unit.spec
        if unit.depthwise {
            let convolution = try depthwiseConvolution(at: position, batch: batch, side: side, spec: s)
            let y = try Self.filled(batch * convolution.outputSide * convolution.outputSide * s.outputChannels) { o in
                try x.withUnsafeBufferPointer { i in
                    try unit.weights.withUnsafeBufferPointer { w in try convolution.forward(i.baseAddress!, weights: w.baseAddress!, output: o) }
                }
            }
            return (y, convolution.outputSide)
        }
        precondition(s.kernel == 1 && s.stride == 1, "only 1x1 and depthwise 3x3 convolutions train")
        let rows = batch * side * side
        let (calls, rowsPerCall) = onePictureAtATime ? (batch, side * side) : (1, rows)
        let y = Self.filled(rows * s.outputChannels) { o in
            x.withUnsafeBufferPointer { i in
                unit.weights.withUnsafeBufferPointer { w in
                    for call in 0..<calls {
                        BLAS.dense(input: i.baseAddress! + call * rowsPerCall * s.inputChannels, rows: rowsPerCall,
                                   inputs: s.inputChannels, weights: w.baseAddress!, bias: nil, outputs: s.outputChannels,
                                   output: o + call * rowsPerCall * s.outputChannels, arithmetic: arithmetic)
                    }
                }
            }
        }
        return (y, side)
    }

    // MARK: backward

    /// Gradients of every trainable tensor (by torch name, torch's layouts) for the gradient
    /// of the output feature map, through the pass `trace` recorded (a training-mode pass).
    public func backward(_ outputGradient: [Float], trace: Trace) throws -> [String: [Float]] {
        var gradients: [String: [Float]] = [:]
        var d = outputGradient
        var record = trace.records.count
        for b in blocks.indices.reversed() {
            let residualGradient = blocks[b].residual ? d : nil
            for (u, unit) in blocks[b].units.enumerated().reversed() {
                record -= 1
                let r = trace.records[record]
                let channels = unit.spec.outputChannels
                let rows = r.convolved.count / channels
                if unit.spec.activation == .relu6 {
                    d.withUnsafeMutableBufferPointer { g in
                        r.activated.withUnsafeBufferPointer { ReLU6Kernel.backward(g.baseAddress!, input: $0.baseAddress!, count: g.count) }
                    }
                }
                var dGamma: [Float] = [], dBeta: [Float] = []
                let dConvolved = Self.filled(d.count) { out in
                    d.withUnsafeBufferPointer { g in
                        r.convolved.withUnsafeBufferPointer { c in
                            (dGamma, dBeta) = BatchNormKernel.backward(g.baseAddress!, input: c.baseAddress!, rows: rows, channels: channels,
                                                                       mean: r.mean, inverseStd: r.inverseStd, gamma: unit.gamma,
                                                                       inputGradient: out)
                        }
                    }
                }
                gradients["\(unit.batchNormName).weight"] = dGamma
                gradients["\(unit.batchNormName).bias"] = dBeta
                // The first trained unit's input gradient would go to the frozen modules: not computed.
                let (dInput, dWeights) = try convolutionBackward(unit, at: [b, u], dConvolved, input: r.input, batch: trace.batch,
                                                                 side: r.inputSide, inputGradient: record > 0)
                gradients[unit.weightName] = dWeights
                d = dInput
            }
            if let residualGradient, !d.isEmpty {
                d.withUnsafeMutableBufferPointer { o in residualGradient.withUnsafeBufferPointer { AddKernel.add(o.baseAddress!, $0.baseAddress!, count: o.count) } }
            }
        }
        return gradients
    }

    /// The weight gradient of `unit` (block and index `at`) and, when `inputGradient`, its
    /// input gradient (else empty; a depthwise unit always computes it).
    func convolutionBackward(_ unit: Unit, at position: [Int], _ dy: [Float], input x: [Float], batch: Int, side: Int,
                             inputGradient: Bool = true) throws -> ([Float], [Float]) {
        let s = unit.spec
        if unit.depthwise {
            let primitives = try depthwiseConvolution(at: position, batch: batch, side: side, spec: s)
            var dw: [Float] = []
            let dx = try Self.filled(x.count) { dxp in
                dw = try Self.filled(unit.weights.count) { dwp in
                    try dy.withUnsafeBufferPointer { g in
                        try x.withUnsafeBufferPointer { i in
                            try unit.weights.withUnsafeBufferPointer { w in
                                try primitives.backward(outputGradient: g.baseAddress!, input: i.baseAddress!, weights: w.baseAddress!,
                                                        inputGradient: dxp, weightGradient: dwp)
                            }
                        }
                    }
                }
            }
            return (dx, dw)
        }
        let rows = batch * side * side
        let dx = inputGradient ? Self.filled(x.count) { dxp in
            dy.withUnsafeBufferPointer { g in
                unit.weights.withUnsafeBufferPointer { w in
                    BLAS.inputGradient(outputGradient: g.baseAddress!, weights: w.baseAddress!, rows: rows,
                                       inputs: s.inputChannels, outputs: s.outputChannels, gradient: dxp, arithmetic: arithmetic)
                }
            }
        } : []
        let dw = Self.filled(unit.weights.count) { dwp in
            dy.withUnsafeBufferPointer { g in
                x.withUnsafeBufferPointer { i in
                    BLAS.weightGradient(outputGradient: g.baseAddress!, input: i.baseAddress!, rows: rows, inputs: s.inputChannels,
                                        outputs: s.outputChannels, gradient: dwp, arithmetic: arithmetic)
                }
            }
        }
        return (dx, dw)
    }

    /// `count` floats that `fill` writes every one of: no zeroing first (zeroing and faulting
    /// in the step's buffers measured at about 5% of fine-tuning).
    @inline(__always)
    static func filled(_ count: Int, _ fill: (UnsafeMutablePointer<Float>) throws -> Void) rethrows -> [Float] {
        try [Float](unsafeUninitializedCapacity: count) { buffer, initialized in
            if count > 0 { try fill(buffer.baseAddress!) }
            initialized = count
        }
    }

    /// The oneDNN depthwise convolution of the unit at `position` for `batch` inputs of `side`.
    func depthwiseConvolution(at position: [Int], batch: Int, side: Int, spec: ConvolutionSpec) throws -> DNNLDepthwiseConvolution {
        lock.lock()
        defer { lock.unlock() }
        let key = position + [batch]
        if let known = depthwise[key] { return known }
        let made = try DNNLDepthwiseConvolution(batch: batch, side: side, channels: spec.outputChannels, stride: spec.stride)
        depthwise[key] = made
        return made
    }
}
