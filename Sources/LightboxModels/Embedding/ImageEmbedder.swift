import Foundation
import LightboxCore
import LightboxImaging
import LightboxKernels

/// Files in, embeddings out: decodes and preprocesses each batch on `threads` threads, then runs
/// the backbone on it. Files that cannot be decoded are skipped and reported.
public final class ImageEmbedder: @unchecked Sendable {
    public let network: any FeatureExtractor
    public let preprocessor: Preprocessor
    public let decoder: ImageDecoder
    /// Part of every input blacked out after preprocessing (the shortcut audit); none normally.
    public let blanking: InputBlanking
    /// What `blanking` blanks in each picture, by path: its lungs' box (fractions of the picture,
    /// margin included), placed into the input square as the picture is; a picture without one
    /// gets the central box (`LungBox.central`, fractions of the square).
    public let blankingBoxes: [String: LungBox]
    /// Threads that decode and preprocess a batch (the run's thread count).
    public let threads: Int
    /// The lungs-only crop applied to every decoded picture before the resize; nil: whole pictures.
    public let crop: LungCrop?

    public init(network: any FeatureExtractor, preprocessor: Preprocessor, decoder: ImageDecoder, threads: Int,
                blanking: InputBlanking = .none, blankingBoxes: [String: LungBox] = [:], crop: LungCrop? = nil) {
        precondition(preprocessor.size == network.inputSize)
        self.network = network
        self.preprocessor = preprocessor
        self.decoder = decoder
        self.threads = max(1, threads)
        self.blanking = blanking
        self.blankingBoxes = blankingBoxes
        self.crop = crop
    }

    /// The same network and preprocessing, cropping every picture with `crop` (nil: none).
    public func cropping(_ crop: LungCrop?) -> ImageEmbedder {
        ImageEmbedder(network: network, preprocessor: preprocessor, decoder: decoder, threads: threads, blanking: blanking,
                      blankingBoxes: blankingBoxes, crop: crop)
    }

    /// What cache keys add to the preprocessing's identity for this embedder's pictures: nil
    /// for whole pictures (keys as they always were), the crop's identity otherwise.
    public var cropIdentity: String? { crop?.identity }

    /// The same network and preprocessing with `blanking` applied to every input (over each
    /// picture's box in `boxes`, else the central box).
    public func blanking(_ blanking: InputBlanking, boxes: [String: LungBox] = [:]) -> ImageEmbedder {
        ImageEmbedder(network: network, preprocessor: preprocessor, decoder: decoder, threads: threads, blanking: blanking,
                      blankingBoxes: boxes, crop: crop)
    }

    /// Loads the pretrained ImageNet MobileNetV2 from the cache of `settings`, on its threads.
    public static func pretrained(policy: ResizePolicy, settings: LightboxSettings, dicomWindow: DICOMWindow) throws -> ImageEmbedder {
        let network = try MobileNetV2(weights: PretrainedMobileNetV2.load(from: PretrainedMobileNetV2.folder(in: settings)),
                                      parallelism: settings.threads, arithmetic: settings.arithmetic)
        return ImageEmbedder(network: network, preprocessor: Preprocessor(size: network.inputSize, policy: policy),
                             decoder: ImageDecoder(maxPixels: settings.maxPixels, dicomWindow: dicomWindow), threads: settings.threads)
    }

    public struct Result: Sendable {
        /// `[paths.count, channels]`, rows in the order of `paths`.
        public var embeddings: [Float]
        public var channels: Int
        /// The files embedded, in order (inputs minus failures).
        public var paths: [String]
        public var failures: [ImageDecodingError]
    }

    /// One forward pass over files: the network's input (the images that decoded, in order),
    /// its output (nil when none decoded), which inputs worked and why the others did not.
    public struct Pass: Sendable {
        public var input: [Float]
        public var output: BackboneResult?
        public var ok: [Bool]
        public var failures: [ImageDecodingError]
        /// The inputs that worked, in order.
        public func kept<T>(_ inputs: [T]) -> [T] { zip(inputs, ok).filter(\.1).map(\.0) }
    }

    /// Decodes and preprocesses `paths` (augmenting `paths[i]` with `augmentations[i]`), then
    /// runs the network once on the images that decoded.
    public func forward(_ paths: [String], augmentations: [AugmentationDraw?]? = nil, outputs: BackboneOutputs = []) throws -> Pass {
        let (tensor, ok, failures) = try prepare(paths, augmentations: augmentations)
        let count = ok.filter { $0 }.count
        let output = count == 0 ? nil : try tensor.withUnsafeBufferPointer {
            try network.forward($0.baseAddress!, batch: count, outputs: outputs)
        }
        return Pass(input: tensor, output: output, ok: ok, failures: failures)
    }

    /// Embeds `paths` in order, `batchSize` images per forward pass.
    /// `progress(done, total)` is called after each batch.
    public func embed(paths: [String], batchSize: Int = 16,
                      progress: ((Int, Int) -> Void)? = nil) throws -> Result {
        let channels = network.embeddingChannels
        var result = Result(embeddings: [], channels: channels, paths: [], failures: [])
        result.embeddings.reserveCapacity(paths.count * channels)
        var start = 0
        while start < paths.count {
            let chunk = Array(paths[start..<min(start + batchSize, paths.count)])
            let pass = try forward(chunk)
            result.failures += pass.failures
            if let output = pass.output {
                result.embeddings += output.embeddings
                result.paths += pass.kept(chunk)
            }
            start += chunk.count
            progress?(start, paths.count)
        }
        return result
    }

    /// Decodes and preprocesses `paths` concurrently into one NHWC tensor of the images
    /// that decoded (in input order).
    public func prepare(_ paths: [String]) throws -> (tensor: [Float], paths: [String], failures: [ImageDecodingError]) {
        let (tensor, ok, failures) = try prepare(paths, augmentations: nil)
        return (tensor, zip(paths, ok).filter(\.1).map(\.0), failures)
    }

    /// Decodes, resizes, optionally augments (`augmentations[i]` for `paths[i]`) and normalises
    /// on `threads` threads; the tensor holds the images that worked (`ok` tells which), in order.
    /// With a `crop`, the batch is decoded first, its lungs located in one pass of the locator's
    /// network, and each picture cut to its box before the resize (throws only if that pass fails).
    public func prepare(_ paths: [String], augmentations: [AugmentationDraw?]?) throws
        -> (tensor: [Float], ok: [Bool], failures: [ImageDecodingError]) {
        let per = preprocessor.valuesPerImage
        var slots = [Float](repeating: 0, count: paths.count * per)
        var errors = [ImageDecodingError?](repeating: nil, count: paths.count)
        let decoder = self.decoder, preprocessor = self.preprocessor, blanking = self.blanking, boxes = blankingBoxes
        // Lungs only: each picture cut to its box, and the box (fractions of the picture), by index.
        var cut: [(image: RGBImage, box: LungBox)?] = []
        if let crop {
            var decoded = [RGBImage?](repeating: nil, count: paths.count)
            let target = crop.decodeTarget(for: preprocessor)
            decoded.withUnsafeMutableBufferPointer { images in
                errors.withUnsafeMutableBufferPointer { errorSlots in
                    let imageBase = images.baseAddress!, errorBase = errorSlots.baseAddress!
                    Parallel.forEach(paths.count, threads: threads) { i in
                        do {
                            imageBase[i] = try decoder.decode(file: paths[i], reduceFor: target)
                        } catch let e as ImageDecodingError {
                            errorBase[i] = e
                        } catch {
                            errorBase[i] = ImageDecodingError(path: paths[i], reason: .corrupt("\(error)"))
                        }
                    }
                }
            }
            var located = try crop.cropped(decoded.compactMap { $0 })[...]
            cut = decoded.map { $0 == nil ? nil : located.popFirst() }
        }
        let pictures = cut
        slots.withUnsafeMutableBufferPointer { buffer in
            errors.withUnsafeMutableBufferPointer { errorSlots in
                let base = buffer.baseAddress!, errorBase = errorSlots.baseAddress!
                Parallel.forEach(paths.count, threads: threads) { i in
                    if errorBase[i] != nil { return }
                    do {
                        let image: RGBImage, cropBox: LungBox?
                        if pictures.isEmpty {
                            image = try decoder.decode(file: paths[i], reduceFor: preprocessor.decodeTarget)
                            cropBox = nil
                        } else {
                            (image, cropBox) = (pictures[i]!.image, pictures[i]!.box)
                        }
                        var square = preprocessor.resized(image)
                        if let draw = augmentations?[i] { square = Augmenter.apply(draw, to: square) }
                        if blanking != .none {
                            // A box of the whole picture, as a box of the part the picture was cut to.
                            let box = boxes[paths[i]].map { b in
                                preprocessor.inSquare(cropBox.map { b.within($0) } ?? b, width: image.width, height: image.height)
                            }
                            square = blanking.apply(square, box: box ?? .central)
                        }
                        preprocessor.writeNormalized(square, to: base + i * per)
                    } catch let e as ImageDecodingError {
                        errorBase[i] = e
                    } catch {
                        errorBase[i] = ImageDecodingError(path: paths[i], reason: .corrupt("\(error)"))
                    }
                }
            }
        }
        // Compact: drop the slots of files that failed.
        var tensor: [Float] = []
        tensor.reserveCapacity(slots.count)
        for i in 0..<paths.count where errors[i] == nil { tensor += slots[(i * per)..<((i + 1) * per)] }
        return (tensor, errors.map { $0 == nil }, errors.compactMap { $0 })
    }
}
