import Foundation
import LightboxCore
import LightboxImaging
import LightboxKernels

/// What the lung locator reads: each picture decoded, padded to the pretrained MobileNetV2's
/// square (`LungLocator.inputPolicy`, ImageNet statistics) and run through the network for its
/// last feature map. `LungFinder` applies a locator to it; `LungLocatorFit` fits one on it.
public final class LungFeatureMaps: @unchecked Sendable {
    public let network: any FeatureExtractor
    public let decoder: ImageDecoder
    public let threads: Int
    public let preprocessor: Preprocessor

    public init(network: any FeatureExtractor, decoder: ImageDecoder, threads: Int) {
        self.network = network
        self.decoder = decoder
        self.threads = max(1, threads)
        preprocessor = Preprocessor(size: network.inputSize, policy: LungLocator.inputPolicy, normalization: .imageNet)
    }

    /// Values in one picture's last feature map (7 x 7 x channels).
    public var featureCount: Int { 7 * 7 * network.embeddingChannels }

    /// The pretrained MobileNetV2 from the weights `settings` name, in its arithmetic.
    public static func pretrained(settings: LightboxSettings, dicomWindow: DICOMWindow) throws -> LungFeatureMaps {
        let network = try MobileNetV2(weights: PretrainedMobileNetV2.load(from: PretrainedMobileNetV2.folder(in: settings)),
                                      parallelism: settings.threads, arithmetic: settings.arithmetic)
        return LungFeatureMaps(network: network, decoder: ImageDecoder(maxPixels: settings.maxPixels, dicomWindow: dicomWindow),
                               threads: settings.threads)
    }

    /// The network's last feature map (`[images.count, 7, 7, channels]`) of each picture padded
    /// to the square.
    public func featureMaps(_ images: [RGBImage]) throws -> [Float] {
        guard !images.isEmpty else { return [] }
        let per = preprocessor.valuesPerImage, preprocessor = self.preprocessor
        var input = [Float](repeating: 0, count: images.count * per)
        input.withUnsafeMutableBufferPointer { buffer in
            let base = buffer.baseAddress!
            Parallel.forEach(images.count, threads: threads) { i in preprocessor.write(images[i], to: base + i * per) }
        }
        let result = try input.withUnsafeBufferPointer { try network.forward($0.baseAddress!, batch: images.count, outputs: .featureMap) }
        guard let maps = result.featureMap, maps.count == images.count * featureCount else {
            throw WeightsError("the network gave no feature map of \(featureCount) values a picture")
        }
        return maps
    }

    /// A decoded picture (reduced for the locator's square where the decoder can) and the size
    /// of the picture in its own pixels.
    public struct Decoded: Sendable {
        public var image: RGBImage
        public var width: Int
        public var height: Int
    }

    /// Decodes `paths` on `threads` threads, each with its own pixel size from its header.
    public func decode(_ paths: [String]) -> [Result<Decoded, ImageDecodingError>] {
        var slots = [Result<Decoded, ImageDecodingError>?](repeating: nil, count: paths.count)
        let decoder = self.decoder, target = preprocessor.decodeTarget
        slots.withUnsafeMutableBufferPointer { buffer in
            let base = buffer.baseAddress!
            Parallel.forEach(paths.count, threads: threads) { i in
                base[i] = Result {
                    let data: Data
                    do {
                        data = try Data(contentsOf: URL(fileURLWithPath: paths[i]))
                    } catch {
                        let why = (error as NSError).localizedFailureReason ?? (error as NSError).localizedDescription
                        throw ImageDecodingError(path: paths[i], reason: .unreadable(why))
                    }
                    let bytes = [UInt8](data)
                    let header = try decoder.probe(data: bytes, path: paths[i])
                    let image = try decoder.decode(data: bytes, path: paths[i], reduceFor: target)
                    return Decoded(image: image, width: header.width, height: header.height)
                }.mapError { $0 as? ImageDecodingError ?? ImageDecodingError(path: paths[i], reason: .corrupt("\($0)")) }
            }
        }
        return slots.map { $0! }
    }
}

/// Pictures in, lung boxes out: the locator on each picture's feature map (`LungFeatureMaps`),
/// one pass of the backbone per picture, in batches.
public final class LungFinder: @unchecked Sendable {
    public let locator: LungLocator
    public let features: LungFeatureMaps
    public var decoder: ImageDecoder { features.decoder }
    public var preprocessor: Preprocessor { features.preprocessor }

    public init(locator: LungLocator, features: LungFeatureMaps) throws {
        guard locator.featureCount == features.featureCount else {
            throw WeightsError("the lung locator reads maps of \(locator.featureCount) values; this network's last map has \(features.featureCount)")
        }
        self.locator = locator
        self.features = features
    }

    /// The pretrained MobileNetV2 from the weights `settings` name, with `locator` (default: the shipped one).
    public static func pretrained(settings: LightboxSettings, dicomWindow: DICOMWindow, locator: LungLocator? = nil) throws -> LungFinder {
        try LungFinder(locator: locator ?? LungLocator.shipped(), features: .pretrained(settings: settings, dicomWindow: dicomWindow))
    }

    /// One located picture: its size in its own pixels (upright) and its lungs' box.
    public struct Located: Sendable, Equatable {
        public var path: String
        public var width: Int
        public var height: Int
        public var box: LungBox
    }

    /// The lung box of each file, in order; a file that cannot be decoded comes back as its error.
    public func locate(paths: [String], batchSize: Int = 16, progress: ((Int, Int) -> Void)? = nil) throws
        -> [Result<Located, ImageDecodingError>] {
        var results: [Result<Located, ImageDecodingError>] = []
        for start in stride(from: 0, to: paths.count, by: batchSize) {
            let chunk = Array(paths[start..<min(start + batchSize, paths.count)])
            let decoded = features.decode(chunk)
            var boxes = try self.boxes(decoded.compactMap { try? $0.get().image })[...]
            for (path, outcome) in zip(chunk, decoded) {
                results.append(outcome.map { Located(path: path, width: $0.width, height: $0.height, box: boxes.popFirst()!) })
            }
            progress?(start + chunk.count, paths.count)
        }
        return results
    }

    /// The lung box of each decoded picture (fractions of that picture), `batchSize` at a time.
    public func boxes(_ images: [RGBImage], batchSize: Int = 16) throws -> [LungBox] {
        var out: [LungBox] = []
        for start in stride(from: 0, to: images.count, by: batchSize) {
            let chunk = Array(images[start..<min(start + batchSize, images.count)])
            let maps = try features.featureMaps(chunk)
            out += zip(chunk, locator.squareBoxes(featureMaps: maps, batch: chunk.count)).map { image, square in
                preprocessor.inPicture(square, width: image.width, height: image.height)
            }
        }
        return out
    }
}
