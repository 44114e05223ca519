/// How a picture of any shape becomes the network's square input.
public enum ResizePolicy: String, CaseIterable, Sendable, Codable {
    /// Centre-crop the largest square, then scale it (Teachable Machine's way).
    case crop
    /// Scale the long side to fit and pad the rest with black: keeps a radiograph's edges.
    case pad
    /// Scale each side independently, distorting the aspect ratio.
    case stretch
}

/// Per-channel normalisation applied to samples scaled to 0...1: `(x - mean) / std`.
public struct ChannelNormalization: Sendable, Equatable, Codable {
    public var mean: [Float]
    public var std: [Float]

    public init(mean: [Float], std: [Float]) {
        precondition(mean.count == 3 && std.count == 3)
        self.mean = mean
        self.std = std
    }

    /// torchvision's ImageNet statistics.
    public static let imageNet = ChannelNormalization(mean: [0.485, 0.456, 0.406], std: [0.229, 0.224, 0.225])
    /// Teachable Machine's `x / 127.5 - 1`.
    public static let symmetric = ChannelNormalization(mean: [0.5, 0.5, 0.5], std: [0.5, 0.5, 0.5])

    /// Per channel, what a 0...255 sample is multiplied by, then `shift` added: `(x / 255 - mean) / std`.
    public var scale: [Float] { (0..<3).map { 1 / (255 * std[$0]) } }
    public var shift: [Float] { (0..<3).map { -mean[$0] / std[$0] } }
}

/// Turns decoded images into the network's input: a square, resized, normalised
/// float tensor in NHWC order.
public struct Preprocessor: Sendable, Equatable {
    public var size: Int
    public var policy: ResizePolicy
    public var normalization: ChannelNormalization
    /// Contrast equalisation of the resized square (before any augmentation and normalisation).
    public var equalization: Equalization

    public init(size: Int = 224, policy: ResizePolicy = .crop, normalization: ChannelNormalization = .imageNet,
                equalization: Equalization = .none) {
        self.size = size
        self.policy = policy
        self.normalization = normalization
        self.equalization = equalization
    }

    /// Version of the decoding and resampling rules: part of every embedding cache key, so
    /// changing how pixels are produced (as the scaled JPEG decoding did) invalidates old entries.
    public static let algorithmVersion = 2

    /// Everything that determines this preprocessing's output, as text (for cache keys).
    public var identity: String {
        // Without equalisation the text is what it was before equalisation existed: caches stay valid.
        "preprocess-v\(Self.algorithmVersion)|\(size)|\(policy.rawValue)|\(normalization.mean)|\(normalization.std)"
            + (equalization == .none ? "" : "|equalize=\(equalization.rawValue)")
    }

    /// What decoders may reduce pictures to for this preprocessing.
    public var decodeTarget: DecodeTarget { DecodeTarget(size: size, policy: policy) }

    /// Number of floats one image occupies in the input tensor.
    public var valuesPerImage: Int { size * size * 3 }

    /// The resized (not yet normalised) `size` x `size` image, samples 0...255, equalised as asked.
    public func resized(_ image: RGBImage) -> RGBImage {
        let square = resizedSquare(image)
        return equalization == .none ? square : equalization.apply(square)
    }

    func resizedSquare(_ image: RGBImage) -> RGBImage {
        switch policy {
        case .stretch:
            return Resampler.resize(image, width: size, height: size)
        case .crop:
            let side = min(image.width, image.height)
            let square = Resampler.Region(x: (image.width - side) / 2, y: (image.height - side) / 2, width: side, height: side)
            return Resampler.resize(image, region: square, width: size, height: size)
        case .pad:
            let scale = Double(size) / Double(max(image.width, image.height))
            let w = min(size, max(1, Int((Double(image.width) * scale).rounded())))
            let h = min(size, max(1, Int((Double(image.height) * scale).rounded())))
            let inner = Resampler.resize(image, width: w, height: h)
            var canvas = [Float](repeating: 0, count: size * size * 3)
            let x0 = (size - w) / 2, y0 = (size - h) / 2
            for row in 0..<h {
                let d = ((y0 + row) * size + x0) * 3
                let s = row * w * 3
                for i in 0..<(w * 3) { canvas[d + i] = inner.pixels[s + i] }
            }
            return RGBImage(width: size, height: size, pixels: canvas)
        }
    }

    /// Writes the normalised HWC tensor of `image` to `destination` (`valuesPerImage` floats).
    public func write(_ image: RGBImage, to destination: UnsafeMutablePointer<Float>) {
        writeNormalized(resized(image), to: destination)
    }

    /// Normalises an image already resized to `size` x `size` (for example after augmentation).
    public func writeNormalized(_ square: RGBImage, to destination: UnsafeMutablePointer<Float>) {
        precondition(square.width == size && square.height == size)
        let scale = normalization.scale, shift = normalization.shift
        square.pixels.withUnsafeBufferPointer { src in
            for i in 0..<(size * size) {
                for c in 0..<3 { destination[i * 3 + c] = src[i * 3 + c] * scale[c] + shift[c] }
            }
        }
    }

    /// The normalised HWC tensor of `image`.
    public func tensor(_ image: RGBImage) -> [Float] {
        var out = [Float](repeating: 0, count: valuesPerImage)
        out.withUnsafeMutableBufferPointer { write(image, to: $0.baseAddress!) }
        return out
    }
}
