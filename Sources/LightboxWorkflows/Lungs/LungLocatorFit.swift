import Foundation
import LightboxCore
import LightboxData
import LightboxHead
import LightboxImaging
import LightboxKernels
import LightboxModels

/// Fits the lung locator (`LungLocator`): ridge regression from the pretrained MobileNetV2's
/// last feature map of each annotated picture (padded to the square) to its box in that square.
/// The penalty is chosen by patient-grouped cross-validation (mean IoU), and the IoU it reports
/// is nested: each outer fold's penalty is chosen on the other folds alone, so no picture's
/// IoU comes from a model that saw its patient.
public enum LungLocatorFit {
    /// Relative ridge penalties tried (`RidgeRegression`).
    public static let penalties: [Double] = [0.001, 0.003, 0.01, 0.03, 0.1, 0.3, 1]

    /// The annotated pictures that decoded, with their feature maps.
    public struct Samples: Sendable {
        public var pictures: [LungAnnotations.Picture]
        /// `[pictures.count, featureCount]`.
        public var maps: [Float]
        public var featureCount: Int
        /// Each picture's box in the locator's square (what is regressed).
        public var squareBoxes: [LungBox]
        /// Each decoded picture's size, for the square's box back onto the picture.
        public var sizes: [(width: Int, height: Int)]
        public var failures: [ImageDecodingError]
        /// The locator's preprocessing (its square's size and policy).
        public var square: Preprocessor
    }

    /// Decodes the annotated pictures and computes their feature maps.
    public static func samples(_ annotations: LungAnnotations, features: LungFeatureMaps, reporter: Reporter) throws -> Samples {
        var samples = Samples(pictures: [], maps: [], featureCount: 7 * 7 * features.network.embeddingChannels, squareBoxes: [],
                              sizes: [], failures: [], square: features.preprocessor)
        let all = annotations.pictures
        for start in stride(from: 0, to: all.count, by: 16) {
            if reporter.isCancelled { throw TrainingCancelled() }
            let chunk = Array(all[start..<min(start + 16, all.count)])
            var images: [RGBImage] = []
            for (picture, decoded) in zip(chunk, features.decode(chunk.map(\.path))) {
                switch decoded {
                case .success(let d):
                    images.append(d.image)
                    samples.pictures.append(picture)
                    samples.sizes.append((d.image.width, d.image.height))
                    samples.squareBoxes.append(features.preprocessor.inSquare(picture.box, width: d.image.width, height: d.image.height))
                case .failure(let e):
                    samples.failures.append(e)
                }
            }
            samples.maps += try features.featureMaps(images)
            reporter.progress("feature maps", done: start + chunk.count, total: all.count)
        }
        guard samples.pictures.count >= 4 else {
            throw DatasetError("\(samples.pictures.count) annotated pictures decoded: a lung locator needs at least 4")
        }
        return samples
    }

    /// What cross-validation measured.
    public struct Validation: Sendable {
        /// Each picture's IoU with its annotated box, predicted by a locator fitted without its patient.
        public var iou: [Double]
        /// Each picture's IoU with the mean box of the other folds (the baseline: no picture read).
        public var meanBoxIoU: [Double]
        public var folds: Int
        public var patients: Int
        public var meanIoU: Double { iou.reduce(0, +) / Double(max(1, iou.count)) }
        public var meanBoxMeanIoU: Double { meanBoxIoU.reduce(0, +) / Double(max(1, meanBoxIoU.count)) }
    }

    /// The penalty with the best patient-grouped cross-validated mean IoU over `rows`.
    static func choosePenalty(_ ridge: RidgeRegression, samples: Samples, rows: [Int], folds: Int, seed: UInt64) throws -> Double {
        let assignment = patientFolds(rows.map { samples.pictures[$0].group }, folds: folds, seed: seed)
        var best = (penalty: penalties[penalties.count / 2], iou: -1.0)
        for penalty in penalties {
            var total = 0.0
            for k in 0..<assignment.folds {
                let test = rows.indices.filter { assignment.fold[$0] == k }.map { rows[$0] }
                let training = rows.indices.filter { assignment.fold[$0] != k }.map { rows[$0] }
                guard !test.isEmpty, !training.isEmpty else { continue }
                let fit = try ridge.fit(training: training, targets: targets(samples), penalty: penalty)
                total += zip(test, ridge.predict(fit, rows: test)).reduce(0.0) { $0 + iou(samples, row: $1.0, predicted: $1.1) }
            }
            if total / Double(rows.count) > best.iou { best = (penalty, total / Double(rows.count)) }
        }
        return best.penalty
    }

    /// Nested patient-grouped cross-validation: `folds` outer folds, the penalty of each chosen
    /// by an inner cross-validation on its training folds.
    public static func crossValidate(_ samples: Samples, folds: Int = 5, seed: UInt64 = 42) throws -> Validation {
        let ridge = RidgeRegression(gram: Gram.of(samples.maps, rows: samples.pictures.count, values: samples.featureCount),
                                    samples: samples.pictures.count)
        let n = samples.pictures.count
        let assignment = patientFolds(samples.pictures.map(\.group), folds: folds, seed: seed)
        var ious = [Double](repeating: 0, count: n), baseline = [Double](repeating: 0, count: n)
        for k in 0..<assignment.folds {
            let test = (0..<n).filter { assignment.fold[$0] == k }, training = (0..<n).filter { assignment.fold[$0] != k }
            guard !test.isEmpty, !training.isEmpty else { continue }
            let penalty = try choosePenalty(ridge, samples: samples, rows: training, folds: folds, seed: seed &+ UInt64(k + 1))
            let fit = try ridge.fit(training: training, targets: targets(samples), penalty: penalty)
            for (i, p) in zip(test, ridge.predict(fit, rows: test)) { ious[i] = iou(samples, row: i, predicted: p) }
            let mean = fit.targetMean
            for i in test { baseline[i] = iou(samples, row: i, predicted: mean) }
        }
        return Validation(iou: ious, meanBoxIoU: baseline, folds: assignment.folds, patients: Set(samples.pictures.map(\.group)).count)
    }

    /// The locator fitted on every sample, its penalty chosen by patient-grouped cross-validation;
    /// `record` goes into its metadata (source, licence, the validation's figures).
    /// `penalty`, when given, is used instead of choosing one.
    public static func fit(_ samples: Samples, folds: Int = 5, seed: UInt64 = 42, penalty given: Double? = nil,
                           record: [String: String] = [:]) throws -> (locator: LungLocator, penalty: Double) {
        let n = samples.pictures.count, p = samples.featureCount
        let ridge = RidgeRegression(gram: Gram.of(samples.maps, rows: n, values: p), samples: n)
        let penalty = try given ?? choosePenalty(ridge, samples: samples, rows: Array(0..<n), folds: folds, seed: seed)
        let fit = try ridge.fit(training: Array(0..<n), targets: targets(samples), penalty: penalty)
        // Back to the features: w = X_c^T dual, bias = mean(y) - mean(x)^T w.
        let w = Gram.weightedRowSum(samples.maps, rows: n, values: p, weights: fit.dual, columns: 4)
        let dualSum = (0..<4).map { c in (0..<n).reduce(0.0) { $0 + fit.dual[$1 * 4 + c] } }
        var mean = [Double](repeating: 0, count: p)
        samples.maps.withUnsafeBufferPointer { x in
            for i in 0..<n { for f in 0..<p { mean[f] += Double(x[i * p + f]) } }
        }
        for f in 0..<p { mean[f] /= Double(n) }
        // X_c^T dual = X^T dual - mean * sum(dual).
        var weights = [Float](repeating: 0, count: p * 4)
        var bias = fit.targetMean
        for f in 0..<p {
            for c in 0..<4 {
                let value = w[f * 4 + c] - mean[f] * dualSum[c]
                weights[f * 4 + c] = Float(value)
                bias[c] -= mean[f] * value
            }
        }
        var metadata = record
        metadata["penalty"] = String(penalty)
        metadata["pictures"] = String(n)
        metadata["patients"] = String(Set(samples.pictures.map(\.group)).count)
        return (try LungLocator(weights: weights, bias: bias.map(Float.init), backbone: PretrainedMobileNetV2.identifier,
                                metadata: metadata), penalty)
    }

    static func targets(_ samples: Samples) -> [[Double]] {
        samples.squareBoxes.map { [$0.x0, $0.y0, $0.x1, $0.y1] }
    }

    /// IoU, in the picture's own fractions, of a predicted square box with the annotated box.
    static func iou(_ samples: Samples, row: Int, predicted: [Double]) -> Double {
        let square = LungBox(x0: predicted[0], y0: predicted[1], x1: predicted[2], y1: predicted[3]).clamped()
        let size = samples.sizes[row]
        return samples.square.inPicture(square, width: size.width, height: size.height).iou(samples.pictures[row].box)
    }

    /// Patients dealt into `folds` folds (fewer when there are fewer patients) after a seeded
    /// shuffle: a patient's pictures always share a fold.
    static func patientFolds(_ groups: [String], folds: Int, seed: UInt64) -> (fold: [Int], folds: Int) {
        var patients = Array(Set(groups)).sorted()
        var generator = SeededGenerator(seed: seed, stream: "lung-locator-folds")
        patients.shuffle(using: &generator)
        let k = max(1, min(folds, patients.count))
        var foldOf: [String: Int] = [:]
        for (i, patient) in patients.enumerated() { foldOf[patient] = i % k }
        return (groups.map { foldOf[$0]! }, k)
    }
}
