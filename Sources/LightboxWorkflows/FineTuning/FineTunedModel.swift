import Foundation
import LightboxCore
import LightboxHead
import LightboxImaging
import LightboxInterop
import LightboxKernels
import LightboxModels

extension FineTuneMember {
    /// A trained member from its saved tensors (a bundle's `member-N.safetensors`).
    public convenience init(tensors: [String: Tensor], firstModule: Int, classes: Int, source: String) throws {
        let store = NamedTensors(tensors, source: source)
        let tail = try TrainableTail(weights: store, firstModule: firstModule)
        let inputs = tail.outputChannels
        self.init(tail: tail, classifier: LinearClassifier(weight: try store.tensor("head.weight", shape: [classes, inputs]).values,
                                                           bias: try store.tensor("head.bias", shape: [classes]).values,
                                                           inputs: inputs, classes: classes))
    }

    /// What a bundle saves of this member.
    public var tensors: [String: Tensor] {
        var all = tail.tensors
        all["head.weight"] = Tensor(shape: [classifier.classes, classifier.inputs], values: classifier.weight)
        all["head.bias"] = Tensor(shape: [classifier.classes], values: classifier.bias)
        return all
    }
}

/// A fine-tuned ensemble ready to classify images: the frozen modules (a layer graph through
/// the module before the trained ones, on the one executor), then every member's trained
/// modules and head; the members' probabilities are averaged.
public final class FineTunedModel: @unchecked Sendable {
    public let frozen: GraphNetwork
    public let members: [FineTuneMember]
    public let preprocessor: Preprocessor
    public let decoder: ImageDecoder
    public let classes: Int

    public init(frozen: GraphNetwork, members: [FineTuneMember], preprocessor: Preprocessor, decoder: ImageDecoder = ImageDecoder()) {
        precondition(!members.isEmpty)
        self.frozen = frozen
        self.members = members
        self.preprocessor = preprocessor
        self.decoder = decoder
        classes = members[0].classifier.classes
    }

    /// The frozen modules before `firstModule` from the base `weights`.
    public static func frozenNetwork(weights: NamedTensors, firstModule: Int,
                                     parallelism: Int = KernelThreads.configured) throws -> GraphNetwork {
        try GraphNetwork(graph: try MobileNetV2Architecture().layerGraph(weights: weights, throughModule: firstModule - 1),
                         parallelism: parallelism)
    }

    /// The ensemble a bundle holds, on the base weights it was trained from (checked by digest).
    public convenience init(bundle: ModelBundle, ensemble: FineTunedEnsemble) throws {
        try bundle.requireInputSize(MobileNetV2Architecture().inputSize)
        let weights = try bundle.pretrainedWeights()
        let members = try ensemble.members.enumerated().map { i, tensors in
            try FineTuneMember(tensors: tensors, firstModule: ensemble.firstModule, classes: bundle.classes.count,
                               source: "\(bundle.directory ?? "model") member \(i)")
        }
        self.init(frozen: try Self.frozenNetwork(weights: weights, firstModule: ensemble.firstModule), members: members,
                  preprocessor: try bundle.preprocessing.preprocessor())
    }

    /// The frozen modules' output for `batch` preprocessed images.
    public func frozenFeatures(_ input: [Float], batch: Int) throws -> [Float] {
        try input.withUnsafeBufferPointer { try frozen.forward($0.baseAddress!, batch: batch, outputs: .featureMap) }.featureMap!
    }

    /// The members' mean class probabilities, `[batch, classes]`, for frozen features.
    public func probabilities(frozen features: [Float], batch: Int) throws -> [Float] {
        var sum = [Float](repeating: 0, count: batch * classes)
        for member in members {
            for (i, p) in try member.probabilities(frozen: features, batch: batch).enumerated() { sum[i] += p }
        }
        let scale = 1 / Float(members.count)
        return sum.map { $0 * scale }
    }

    /// Probabilities of the files that decode (in order), `batchSize` at a time, and why the others did not.
    public func predict(paths: [String], batchSize: Int = 16, blanking: InputBlanking = .none) throws
        -> (paths: [String], probabilities: [Float], failures: [ImageDecodingError]) {
        let embedder = ImageEmbedder(network: frozen, preprocessor: preprocessor, decoder: decoder, blanking: blanking)
        var kept: [String] = [], probabilities: [Float] = [], failures: [ImageDecodingError] = []
        for start in stride(from: 0, to: paths.count, by: batchSize) {
            let chunk = Array(paths[start..<min(start + batchSize, paths.count)])
            let pass = try embedder.forward(chunk, outputs: .featureMap)
            failures += pass.failures
            guard let output = pass.output else { continue }
            let batch = pass.ok.filter { $0 }.count
            probabilities += try self.probabilities(frozen: output.featureMap!, batch: batch)
            kept += pass.kept(chunk)
        }
        return (kept, probabilities, failures)
    }

    /// Probabilities and the Grad-CAM overlay of `targets[i]` (default: the class `decision` predicts)
    /// for files that must decode: one pass through the frozen modules, then each member's
    /// heatmap from its own last feature map and head, averaged over the members.
    public func explain(paths: [String], targets: [Int]? = nil, decision: DecisionRule = .argmax) throws -> [(probabilities: [Float], predicted: Int, png: Data)] {
        guard !paths.isEmpty else { return [] }
        let embedder = ImageEmbedder(network: frozen, preprocessor: preprocessor, decoder: decoder)
        let pass = try embedder.forward(paths, outputs: .featureMap)
        if let failure = pass.failures.first { throw failure }
        let batch = paths.count, k = classes
        let probabilities = try self.probabilities(frozen: pass.output!.featureMap!, batch: batch)
        var maps: [(featureMap: [Float], side: Int)] = []
        for member in members {
            let (featureMap, trace) = try member.tail.forward(pass.output!.featureMap!, batch: batch, training: false)
            maps.append((featureMap, trace.outputSide))
        }
        return try (0..<batch).map { i in
            let row = Array(probabilities[(i * k)..<((i + 1) * k)])
            let predicted = decision.predicted(row)
            var cam: [Float] = []
            var side = 0
            for (member, map) in zip(members, maps) {
                side = map.side
                let per = side * side * member.classifier.inputs
                let own = Array(map.featureMap[(i * per)..<((i + 1) * per)])
                let pooled = LinearClassifier.pool(own, batch: 1, positions: side * side, channels: member.classifier.inputs)
                let one = Heatmap.gradCAM(gradient: member.classifier.gradientOfProbability(pooled, target: targets?[i] ?? predicted),
                                          featureMap: own, side: side)
                cam = cam.isEmpty ? one : zip(cam, one).map(+)
            }
            let top = cam.max() ?? 0
            if top > 0 { cam = cam.map { $0 / top } }
            let values = preprocessor.valuesPerImage
            return (row, predicted, try HeatmapExamples.overlayPNG(input: pass.input[(i * values)..<((i + 1) * values)], cam: cam,
                                                                  side: side, preprocessor: preprocessor))
        }
    }
}
