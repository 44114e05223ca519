import Foundation
import LightboxCore
import LightboxImaging

/// Finds the box around both lungs from the pretrained MobileNetV2's last feature map: a linear
/// map (ridge regression, fitted by `LungLocatorFit`) from the `[7, 7, 1280]` map of the picture
/// padded to the network's square (`inputPolicy`) to the box's corners in that square. The
/// square's box becomes the picture's with `Preprocessor.inPicture`.
public struct LungLocator: Sendable {
    /// How a picture becomes the locator's input: the whole picture, padded (a centre crop would
    /// cut the lungs of a tall radiograph), with ImageNet normalisation and no equalisation.
    public static let inputPolicy = ResizePolicy.pad
    public static let fileFormat = "lightbox-lung-locator-1"

    /// `[featureCount, 4]`, row-major: the weight of each feature-map value for x0, y0, x1, y1.
    public let weights: [Float]
    /// The box predicted for an all-zero map.
    public let bias: [Float]
    /// The backbone whose maps it reads (`PretrainedMobileNetV2.identifier`).
    public let backbone: String
    /// What fitted it: source and licence of the boxes, the ridge penalty, the cross-validated IoU.
    public let metadata: [String: String]

    public var featureCount: Int { bias.isEmpty ? 0 : weights.count / bias.count }

    public init(weights: [Float], bias: [Float], backbone: String, metadata: [String: String]) throws {
        guard bias.count == 4, !weights.isEmpty, weights.count % 4 == 0 else {
            throw WeightsError("a lung locator needs 4 outputs (x0, y0, x1, y1): \(bias.count) biases, \(weights.count) weights")
        }
        guard weights.allSatisfy(\.isFinite), bias.allSatisfy(\.isFinite) else {
            throw WeightsError("a lung locator's weights must be finite numbers")
        }
        self.weights = weights
        self.bias = bias
        self.backbone = backbone
        self.metadata = metadata
    }

    /// The boxes, as fractions of the locator's input square, of `batch` feature maps
    /// (`batch * featureCount` values, NHWC).
    public func squareBoxes(featureMaps maps: [Float], batch: Int) -> [LungBox] {
        let n = featureCount
        precondition(maps.count == batch * n, "\(maps.count) feature-map values for \(batch) maps of \(n)")
        return (0..<batch).map { b in
            var out = [Double](repeating: 0, count: 4)
            maps.withUnsafeBufferPointer { m in
                weights.withUnsafeBufferPointer { w in
                    var s0 = 0.0, s1 = 0.0, s2 = 0.0, s3 = 0.0
                    let row = m.baseAddress! + b * n
                    for f in 0..<n {
                        let v = Double(row[f]), r = f * 4
                        s0 += v * Double(w[r]); s1 += v * Double(w[r + 1]); s2 += v * Double(w[r + 2]); s3 += v * Double(w[r + 3])
                    }
                    out = [s0, s1, s2, s3]
                }
            }
            return LungBox(x0: out[0] + Double(bias[0]), y0: out[1] + Double(bias[1]),
                           x1: out[2] + Double(bias[2]), y1: out[3] + Double(bias[3])).clamped()
        }
    }

    // MARK: - The file

    /// The safetensors file: `weights` `[featureCount, 4]`, `bias` `[4]`, and metadata with the
    /// format, the backbone and what fitted it.
    public func encoded() throws -> Data {
        var meta = metadata
        meta["format"] = Self.fileFormat
        meta["backbone"] = backbone
        return try SafeTensors.encode(["weights": Tensor(shape: [featureCount, 4], values: weights),
                                       "bias": Tensor(shape: [4], values: bias)], metadata: meta)
    }

    /// A locator file, checked: its format, its backbone (the only one Lightbox has), and shapes
    /// that fit `featureCount` values a map when given. Errors name `source`.
    public static func decode(_ data: Data, source: String, featureCount expected: Int? = nil) throws -> LungLocator {
        let (tensors, meta) = try SafeTensors.decode(data, source: source)
        guard meta["format"] == fileFormat else {
            throw WeightsError("\(source): not a Lightbox lung locator (its format is \(meta["format"].map { "'\($0)'" } ?? "missing"), expected '\(fileFormat)')")
        }
        guard let backbone = meta["backbone"], backbone == PretrainedMobileNetV2.identifier else {
            throw WeightsError("\(source): a lung locator for the backbone \(meta["backbone"] ?? "(none)"); Lightbox locates lungs with \(PretrainedMobileNetV2.identifier)")
        }
        guard let w = tensors["weights"], let b = tensors["bias"], w.shape.count == 2, w.shape[1] == 4, b.shape == [4] else {
            throw WeightsError("\(source): a lung locator needs tensors 'weights' [features, 4] and 'bias' [4]")
        }
        if let expected, w.shape[0] != expected {
            throw WeightsError("\(source): a lung locator for maps of \(w.shape[0]) values; this backbone's last map has \(expected)")
        }
        do {
            return try LungLocator(weights: w.values, bias: b.values, backbone: backbone, metadata: meta)
        } catch let e as WeightsError {
            throw WeightsError("\(source): \(e.description)")
        }
    }

    /// The largest locator file read: 64 MiB (the shipped one is 1 MB; a map of 62,720 values
    /// and 4 outputs is 1 MB however it was fitted).
    public static let maxFileBytes = 64 << 20

    /// Reads a locator file: a regular file of at most `maxFileBytes` (a FIFO or device is refused
    /// without blocking), checked as `decode` checks it. Errors name `path`.
    public static func read(from path: String, featureCount: Int? = nil) throws -> LungLocator {
        let data: Data
        do {
            data = try ContainedFile.read(userFile: path, maxBytes: maxFileBytes)
        } catch {
            throw WeightsError("\(path): cannot read the lung locator (\(error))")
        }
        return try decode(data, source: path, featureCount: featureCount)
    }

    // MARK: - The locator shipped with Lightbox

    /// The locator shipped with Lightbox, written by `scripts/fit_lung_locator.sh` from the
    /// covid-chestxray collection's lung boxes (General Blockchain, Inc., CC BY-SA 4.0), checked
    /// against `shippedSHA256` before use.
    public static func shipped() throws -> LungLocator {
        guard let url = Bundle.module.url(forResource: "lung-locator", withExtension: "safetensors") else {
            throw WeightsError("the lung locator shipped with Lightbox (lung-locator.safetensors) is missing from its resources")
        }
        let data: Data
        do {
            data = try Data(contentsOf: url)
        } catch {
            throw WeightsError("\(url.path): cannot read the shipped lung locator (\((error as NSError).localizedDescription))")
        }
        let digest = SHA256.hex(data)
        guard digest == shippedSHA256 else {
            throw WeightsError("\(url.path): the shipped lung locator's SHA-256 is \(digest), expected \(shippedSHA256): the file was changed or damaged")
        }
        return try decode(data, source: url.path)
    }
}
