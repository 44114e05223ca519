import LightboxKernels

/// MobileNetV2 as a table of blocks (Sandler et al. 2018, Table 2), read by one builder.
public struct MobileNetV2Architecture: Sendable {
    /// One row of the paper's table: `repeats` inverted-residual blocks with expansion
    /// factor `expansion` and `channels` outputs; the first of them has stride `stride`.
    public struct Stage: Sendable {
        public var expansion: Int, channels: Int, repeats: Int, stride: Int
    }

    public static let stages: [Stage] = [
        Stage(expansion: 1, channels: 16, repeats: 1, stride: 1),
        Stage(expansion: 6, channels: 24, repeats: 2, stride: 2),
        Stage(expansion: 6, channels: 32, repeats: 3, stride: 2),
        Stage(expansion: 6, channels: 64, repeats: 4, stride: 2),
        Stage(expansion: 6, channels: 96, repeats: 3, stride: 1),
        Stage(expansion: 6, channels: 160, repeats: 3, stride: 2),
        Stage(expansion: 6, channels: 320, repeats: 1, stride: 1),
    ]

    public var widthMultiplier: Double
    public var inputSize: Int
    public var classes: Int

    /// torchvision's MobileNetV2 (width 1, 224x224): the network Lightbox's pretrained weights,
    /// fine-tuned members and exports describe. Code outside this module names it, never builds one.
    public static let standard = MobileNetV2Architecture()

    public init(widthMultiplier: Double = 1.0, inputSize: Int = 224, classes: Int = 1000) {
        self.widthMultiplier = widthMultiplier
        self.inputSize = inputSize
        self.classes = classes
    }

    /// Channel counts rounded to multiples of 8, never more than 10% below the exact value.
    static func divisible(_ value: Double, by divisor: Int = 8) -> Int {
        var rounded = max(divisor, (Int(value + Double(divisor) / 2) / divisor) * divisor)
        if Double(rounded) < 0.9 * value { rounded += divisor }
        return rounded
    }

    public var stemChannels: Int { Self.divisible(32 * widthMultiplier) }
    /// The embedding width: the last 1x1 convolution's outputs (1280 for width <= 1).
    public var embeddingChannels: Int { Self.divisible(1280 * max(1.0, widthMultiplier)) }

    /// Side of the last feature map: the input shrinks by 2 five times.
    public var featureMapSize: Int {
        var side = inputSize
        for _ in 0..<5 { side = (side + 2 - 3) / 2 + 1 }
        return side
    }

    /// A convolution with batch norm after it, and where its parameters live in the weights.
    public struct ConvUnit: Sendable {
        public var spec: ConvolutionSpec
        /// Name of the convolution weight tensor (OIHW).
        public var weight: String
        /// Prefix of the batch-norm tensors (`.weight`, `.bias`, `.running_mean`, `.running_var`).
        public var batchNorm: String
    }

    /// One feature module, `features.N` in torchvision's state dict: the stem convolution
    /// (N = 0), an inverted-residual block ([expand 1x1] -> depthwise 3x3 -> project 1x1, plus
    /// its input when `residual`; 1-17), or the final 1x1 convolution (18).
    public struct Module: Sendable {
        public enum Kind: Sendable, Equatable { case stem, block, head }
        public var index: Int
        public var kind: Kind
        public var units: [ConvUnit]
        public var residual: Bool
        /// The block's number among the blocks (0-16; what layer names count), for `.block`.
        public var blockNumber: Int { index - 1 }
    }

    /// The feature modules in order, named as in torchvision's `mobilenet_v2` state dict: what
    /// the executor's layer graph, the trainable tail and the exporters all walk.
    public var modules: [Module] {
        var modules = [Module(index: 0, kind: .stem, units: [
            ConvUnit(spec: ConvolutionSpec(inputChannels: 3, outputChannels: stemChannels, kernel: 3, stride: 2, padding: 1,
                                           activation: .relu6),
                     weight: "features.0.0.weight", batchNorm: "features.0.1")], residual: false)]
        var channels = stemChannels
        for stage in Self.stages {
            let out = Self.divisible(Double(stage.channels) * widthMultiplier)
            for r in 0..<stage.repeats {
                let index = modules.count, stride = r == 0 ? stage.stride : 1
                let hidden = channels * stage.expansion
                let p = "features.\(index).conv"
                var units: [ConvUnit] = []
                var next = 0
                if stage.expansion != 1 {
                    units.append(ConvUnit(spec: ConvolutionSpec(inputChannels: channels, outputChannels: hidden, kernel: 1,
                                                                activation: .relu6),
                                          weight: "\(p).0.0.weight", batchNorm: "\(p).0.1"))
                    next = 1
                }
                units.append(ConvUnit(spec: ConvolutionSpec(inputChannels: hidden, outputChannels: hidden, kernel: 3,
                                                            stride: stride, padding: 1, groups: hidden, activation: .relu6),
                                      weight: "\(p).\(next).0.weight", batchNorm: "\(p).\(next).1"))
                let residual = stride == 1 && channels == out
                units.append(ConvUnit(spec: ConvolutionSpec(inputChannels: hidden, outputChannels: out, kernel: 1,
                                                            accumulate: residual),
                                      weight: "\(p).\(next + 1).weight", batchNorm: "\(p).\(next + 2)"))
                modules.append(Module(index: index, kind: .block, units: units, residual: residual))
                channels = out
            }
        }
        let index = modules.count
        modules.append(Module(index: index, kind: .head, units: [
            ConvUnit(spec: ConvolutionSpec(inputChannels: channels, outputChannels: embeddingChannels, kernel: 1, activation: .relu6),
                     weight: "features.\(index).0.weight", batchNorm: "features.\(index).1")], residual: false))
        return modules
    }

    /// The feature modules' numbers: 0 (the stem) to the final convolution's (18).
    public var moduleNumbers: ClosedRange<Int> { 0...(Self.stages.map(\.repeats).reduce(0, +) + 1) }

    /// Modules a frozen part may end at, leaving at least one to train (0-17).
    public var frozenEnds: ClosedRange<Int> { moduleNumbers.lowerBound...(moduleNumbers.upperBound - 1) }

    /// How many modules fine-tuning may train, counted from the end: all but the stem (1-18).
    public var trainableModuleCounts: ClosedRange<Int> { 1...moduleNumbers.upperBound }

    /// The modules in `range`, or an error naming the ones there are.
    public func modules(_ range: ClosedRange<Int>) throws -> ArraySlice<Module> {
        guard moduleNumbers.contains(range.lowerBound), moduleNumbers.contains(range.upperBound) else {
            throw WeightsError("MobileNetV2 has feature modules \(moduleNumbers.lowerBound)-\(moduleNumbers.upperBound), not \(range)")
        }
        return modules[range]
    }

    /// Where fine-tuning cuts the network: the modules before the trained ones run frozen (once
    /// per picture), the trained ones learn. Unfreezing N modules is this cut, nowhere else.
    public struct Cut: Sendable, Equatable {
        public let frozen: ClosedRange<Int>, trained: ClosedRange<Int>
        public var firstTrained: Int { trained.lowerBound }

        /// Modules 0 to `firstTrained - 1` frozen, the rest to `lastModule` trained (1 <= firstTrained <= lastModule).
        public init(firstTrained: Int, lastModule: Int) {
            precondition(1 <= firstTrained && firstTrained <= lastModule)
            frozen = 0...(firstTrained - 1)
            trained = firstTrained...lastModule
        }
    }

    /// The cut whose trained part starts at module `firstTrained` (1-18).
    public func cut(firstTrained: Int) throws -> Cut {
        guard trainableModuleCounts.contains(moduleNumbers.upperBound + 1 - firstTrained) else {
            throw WeightsError("the trainable modules must start between features.1 and features.\(moduleNumbers.upperBound)")
        }
        return Cut(firstTrained: firstTrained, lastModule: moduleNumbers.upperBound)
    }

    /// The cut that trains the last `count` modules (`trainableModuleCounts`, checked by the option rules).
    public func cut(training count: Int) throws -> Cut { try cut(firstTrained: firstTrainedModule(training: count)) }

    /// The first module trained when the last `count` are.
    public func firstTrainedModule(training count: Int) -> Int { moduleNumbers.upperBound + 1 - count }

    /// Side of the feature map module `index` receives.
    public func inputSide(ofModule index: Int) -> Int {
        var side = inputSize
        for module in modules.prefix(index) { for unit in module.units { side = unit.spec.outputSize(side) } }
        return side
    }

    /// Name prefix of the ImageNet classifier (`.weight` [classes, 1280], `.bias`).
    public var classifier: String { "classifier.1" }
}
