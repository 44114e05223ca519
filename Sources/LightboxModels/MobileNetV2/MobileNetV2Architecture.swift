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

    /// An inverted-residual block: [expand 1x1] -> depthwise 3x3 -> project 1x1 (+ input).
    public struct Block: Sendable {
        public var units: [ConvUnit]
        public var residual: Bool
    }

    /// The convolution before the blocks, the blocks, and the 1x1 convolution after them,
    /// named as in torchvision's `mobilenet_v2` state dict.
    public var layers: (stem: ConvUnit, blocks: [Block], head: ConvUnit) {
        let stem = ConvUnit(spec: ConvolutionSpec(inputChannels: 3, outputChannels: stemChannels, kernel: 3, stride: 2,
                                                  padding: 1, activation: .relu6),
                            weight: "features.0.0.weight", batchNorm: "features.0.1")
        var blocks: [Block] = []
        var channels = stemChannels
        var index = 1
        for stage in Self.stages {
            let out = Self.divisible(Double(stage.channels) * widthMultiplier)
            for r in 0..<stage.repeats {
                let stride = r == 0 ? stage.stride : 1
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
                blocks.append(Block(units: units, residual: residual))
                channels = out
                index += 1
            }
        }
        let head = ConvUnit(spec: ConvolutionSpec(inputChannels: channels, outputChannels: embeddingChannels, kernel: 1,
                                                  activation: .relu6),
                            weight: "features.\(index).0.weight", batchNorm: "features.\(index).1")
        return (stem, blocks, head)
    }

    /// Name prefix of the ImageNet classifier (`.weight` [classes, 1280], `.bias`).
    public var classifier: String { "classifier.1" }
}
