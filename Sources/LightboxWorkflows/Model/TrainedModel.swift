import Foundation
import LightboxCore
import LightboxHead
import LightboxImaging
import LightboxInterop
import LightboxKernels
import LightboxModels

/// A trained model ready to classify image files, whatever trained it: the frozen part its
/// members share, run once per batch of pictures, then every member (`ModelMember`) on its
/// output; the members' probabilities are averaged, then calibrated (`calibration`). Every
/// prediction, evaluation, audit and heatmap goes through this type.
public final class TrainedModel: @unchecked Sendable {
    public let frozen: any FeatureExtractor
    public let members: [any ModelMember]
    public let preprocessor: Preprocessor
    public let decoder: ImageDecoder
    /// Threads that decode and preprocess a batch (the run's thread count).
    public let threads: Int
    /// The lungs-only crop every picture gets before the resize (the bundle's); nil: whole pictures.
    public let crop: LungCrop?
    public let classes: Int
    /// What the members read of the frozen part's output (empty: only the pooled embedding).
    public let reads: BackboneOutputs
    /// The frozen whole backbone, when the members classify from its pooled embedding: then
    /// what the cache and the shards hold for this model is that embedding (the entries
    /// training made serve again); otherwise they hold the ensemble's probabilities
    /// (`EnsembleProbabilities`).
    public let cachedBackbone: Backbone?
    /// The temperature scaling of the members' mean probabilities (the bundle's), applied by
    /// every public output here (`calibrated`); nil: none. Set it before the model is shared
    /// between threads (a training run sets it once fitted on out-of-fold predictions). What the
    /// cache and the shards hold stays the uncalibrated mean (`EnsembleProbabilities`), so their
    /// keys, which name only the members, stay right; `CachedPass` calibrates after reading.
    public var calibration: TemperatureScaling?
    /// What the model computes in: its frozen part's arithmetic, which its fine-tuned members'
    /// trained modules are set to as well (one model, one precision).
    public var arithmetic: Arithmetic { frozen.arithmetic }

    public init(frozen: any FeatureExtractor, members: [any ModelMember], preprocessor: Preprocessor,
                decoder: ImageDecoder, threads: Int, backbone: Backbone? = nil, calibration: TemperatureScaling? = nil,
                crop: LungCrop? = nil) {
        precondition(!members.isEmpty)
        precondition(backbone == nil || backbone!.embedder.crop === crop, "a backbone's embedder crops as its model does")
        self.frozen = frozen
        self.members = members
        self.preprocessor = preprocessor
        self.decoder = decoder
        self.threads = max(1, threads)
        self.crop = crop
        classes = members[0].classes
        reads = members.reduce(into: BackboneOutputs()) { $0.formUnion($1.reads) }
        for case let member as FineTunedMember in members { member.tail.arithmetic = frozen.arithmetic }
        cachedBackbone = reads.isEmpty ? backbone : nil
        self.calibration = calibration
    }

    /// The members of `backbone` (a head on the whole frozen backbone).
    public convenience init(backbone: Backbone, members: [any ModelMember]) {
        self.init(frozen: backbone.embedder.network, members: members, preprocessor: backbone.embedder.preprocessor,
                  decoder: backbone.embedder.decoder, threads: backbone.embedder.threads, backbone: backbone,
                  crop: backbone.embedder.crop)
    }

    /// The model a bundle holds, on the base weights it was trained from (checked by digest),
    /// run with `settings` (weights folder, pixel limit, threads), with the bundle's calibration.
    /// A bundle that records the lungs-only crop gets it, with the locator it was trained with.
    public convenience init(bundle: ModelBundle, settings: LightboxSettings) throws {
        let crop = try bundle.crop.map {
            try LungCrop.load(locatorFile: $0.locatorFile, source: (bundle.directory ?? "the model") + "/" + ModelBundle.lungLocatorName,
                              margin: $0.margin, settings: settings, dicomWindow: bundle.preprocessing.window)
        }
        switch bundle.cut {
        case .wholeBackbone:
            self.init(backbone: try bundle.resolvedBackbone(settings: settings).cropping(crop), members: bundle.members)
        case .mobileNetV2:
            self.init(frozen: try GraphNetwork(graph: try bundle.frozenGraph(weightsFolder: PretrainedMobileNetV2.folder(in: settings)),
                                               parallelism: settings.threads, arithmetic: settings.arithmetic),
                      members: bundle.members, preprocessor: try bundle.preprocessing.preprocessor(),
                      decoder: bundle.preprocessing.decoder(maxPixels: settings.maxPixels), threads: settings.threads, crop: crop)
        }
        calibration = bundle.calibration
    }

    /// MobileNetV2's frozen modules before `firstModule` from the base `weights` (what a
    /// fine-tuned member reads), run on `parallelism` threads.
    public static func frozenNetwork(weights: NamedTensors, firstModule: Int, parallelism: Int, arithmetic: Arithmetic) throws -> GraphNetwork {
        try GraphNetwork(graph: try MobileNetV2Architecture.standard.layerGraph(weights: weights, throughModule: try MobileNetV2Architecture.standard.cut(firstTrained: firstModule).frozen.upperBound),
                         parallelism: parallelism, arithmetic: arithmetic)
    }

    /// The model's class probabilities, `[batch, classes]`, for the frozen part's output: the
    /// members' mean, calibrated.
    public func probabilities(frozen output: BackboneResult) throws -> [Float] {
        calibrated(try uncalibratedProbabilities(frozen: output))
    }

    /// The members' mean class probabilities before `calibration`: what the cache and the shards
    /// hold (`EnsembleProbabilities`), and what a calibration is fitted on.
    public func uncalibratedProbabilities(frozen output: BackboneResult) throws -> [Float] {
        var sum = [Float](repeating: 0, count: output.batch * classes)
        for member in members {
            for (i, p) in try member.probabilities(frozen: output).enumerated() { sum[i] += p }
        }
        let scale = 1 / Float(members.count)
        return sum.map { $0 * scale }
    }

    /// `probabilities` (`[rows, classes]`, the members' mean) with this model's calibration
    /// applied: the one place it is applied.
    public func calibrated(_ probabilities: [Float]) -> [Float] {
        calibration?.apply(probabilities, classes: classes) ?? probabilities
    }

    /// The model's (calibrated) probabilities for frozen feature maps computed elsewhere (`batch`
    /// pictures' NHWC maps: fine-tuning's held-out pictures).
    public func probabilities(frozenFeatureMaps maps: [Float], batch: Int) throws -> [Float] {
        try probabilities(frozen: BackboneResult(batch: batch, embeddings: [], featureMap: maps))
    }

    /// The model's (calibrated) probabilities for pooled embeddings of the whole backbone computed
    /// elsewhere (`rows` of them: the cache, merged shards).
    public func probabilities(embeddings: [Float], rows: Int) throws -> [Float] {
        try probabilities(frozen: BackboneResult(batch: rows, embeddings: embeddings))
    }

    /// Calibrated probabilities of the files that decode (in order), `batchSize` at a time, and why the
    /// others did not. `blanking` blacks out part of every input (the shortcut audit): each
    /// picture's box in `blankingBoxes` (its lungs, fractions of the picture), else the central box.
    public func predict(paths: [String], batchSize: Int = 16, blanking: InputBlanking = .none,
                        blankingBoxes: [String: LungBox] = [:], progress: ((Int, Int) -> Void)? = nil) throws
        -> (paths: [String], probabilities: [Float], failures: [ImageDecodingError]) {
        let embedder = ImageEmbedder(network: frozen, preprocessor: preprocessor, decoder: decoder, threads: threads, blanking: blanking,
                                     blankingBoxes: blankingBoxes, crop: crop)
        var kept: [String] = [], probabilities: [Float] = [], failures: [ImageDecodingError] = []
        for start in stride(from: 0, to: paths.count, by: batchSize) {
            let chunk = Array(paths[start..<min(start + batchSize, paths.count)])
            let pass = try embedder.forward(chunk, outputs: reads)
            failures += pass.failures
            if let output = pass.output {
                probabilities += try self.probabilities(frozen: output)
                kept += pass.kept(chunk)
            }
            progress?(start + chunk.count, paths.count)
        }
        return (kept, probabilities, failures)
    }

    /// Calibrated probabilities and the Grad-CAM overlay of `targets[i]` (default: the class
    /// `decision` predicts on them) for files that must decode: one pass through the frozen part, then each
    /// member's heatmap from its own last feature map and head, summed over the members and
    /// scaled to 0...1.
    /// `lungBoxes[i]`, when given, is drawn over picture i's overlay (fractions of the input square).
    public func explain(paths: [String], targets: [Int]? = nil, decision: DecisionRule = .argmax, lungBoxes: [LungBox?]? = nil) throws
        -> [(probabilities: [Float], predicted: Int, png: Data)] {
        guard !paths.isEmpty else { return [] }
        let embedder = ImageEmbedder(network: frozen, preprocessor: preprocessor, decoder: decoder, threads: threads, crop: crop)
        let pass = try embedder.forward(paths, outputs: reads.union(.featureMap))
        if let failure = pass.failures.first { throw failure }
        return try answers(input: pass.input, output: pass.output!, targets: targets,
                           heatmaps: [Bool](repeating: true, count: paths.count), decision: decision, lungBoxes: lungBoxes)
            .map { ($0.probabilities, $0.predicted, $0.heatmap!) }
    }

    /// A picture in memory (`data`, named `name` in errors) decoded and preprocessed into the
    /// network's input (`preprocessor.valuesPerImage` floats): what `predict(paths:)` and
    /// `explain(paths:)` feed the network for the same bytes in a file (the same decoder and
    /// scaled decoding), so that a server can decode pictures one by one within its memory
    /// budget and pass them through the network together (`explain(inputs:heatmaps:decision:)`).
    public func input(data: [UInt8], name: String) throws -> [Float] {
        let square: RGBImage
        if let crop {
            // Lungs only, as `predict(paths:)` crops: decoded for the crop, located, cut to the box.
            let image = try decoder.decode(data: data, path: name, reduceFor: crop.decodeTarget(for: preprocessor))
            square = preprocessor.resized(try crop.cropped([image])[0].image)
        } else {
            square = preprocessor.resized(try decoder.decode(data: data, path: name, reduceFor: preprocessor.decodeTarget))
        }
        var values = [Float](repeating: 0, count: preprocessor.valuesPerImage)
        values.withUnsafeMutableBufferPointer { preprocessor.writeNormalized(square, to: $0.baseAddress!) }
        return values
    }

    /// One picture's answer: calibrated probabilities, the class the decision rule predicts, and
    /// when asked the PNG of the model's input with the Grad-CAM heatmap of that class.
    public struct Answer: Sendable, Equatable {
        public var probabilities: [Float]
        public var predicted: Int
        public var heatmap: Data?
    }

    /// Pictures already preprocessed (`input(data:name:)`, `heatmaps.count` of them one after
    /// another in `inputs`) through one pass of the frozen part: each one's answer, with its
    /// heatmap when `heatmaps[i]`. A picture's answer does not depend on the others in the pass:
    /// the frozen part runs each picture of a batch on its own, and the members' rows are
    /// batch-independent (`RowProduct`).
    public func explain(inputs: [Float], heatmaps: [Bool], decision: DecisionRule) throws -> [Answer] {
        let batch = heatmaps.count
        guard batch > 0 else { return [] }
        guard inputs.count == batch * preprocessor.valuesPerImage else {
            throw WeightsError("\(inputs.count) input values for \(batch) pictures of \(preprocessor.valuesPerImage)")
        }
        let outputs = heatmaps.contains(true) ? reads.union(.featureMap) : reads
        let output = try inputs.withUnsafeBufferPointer { try frozen.forward($0.baseAddress!, batch: batch, outputs: outputs) }
        return try answers(input: inputs, output: output, targets: nil, heatmaps: heatmaps, decision: decision)
    }

    /// The answers for a pass (`input` the network's input, `output` the frozen part's): the
    /// members' Grad-CAMs summed and scaled to 0...1 for each picture with `heatmaps[i]`, their
    /// overlays drawn and encoded on `threads` threads.
    private func answers(input: [Float], output: BackboneResult, targets: [Int]?, heatmaps: [Bool],
                         decision: DecisionRule, lungBoxes: [LungBox?]? = nil) throws -> [Answer] {
        let k = classes, values = preprocessor.valuesPerImage
        let probabilities = try self.probabilities(frozen: output)
        var answers = (0..<output.batch).map { i -> Answer in
            let row = Array(probabilities[(i * k)..<((i + 1) * k)])
            return Answer(probabilities: row, predicted: decision.predicted(row), heatmap: nil)
        }
        var cams: [(cam: [Float], side: Int)?] = Array(repeating: nil, count: output.batch)
        for i in answers.indices where heatmaps[i] {
            cams[i] = try summedCAM(output: output, index: i, target: targets?[i] ?? answers[i].predicted)
        }
        let preprocessor = self.preprocessor, drawn = cams
        let overlays = Parallel.map(output.batch, threads: threads) { i -> Result<Data, Error>? in
            drawn[i].map { c in Result { try HeatmapExamples.overlayPNG(input: input[(i * values)..<((i + 1) * values)], cam: c.cam,
                                                                      side: c.side, preprocessor: preprocessor,
                                                                      box: lungBoxes.flatMap { $0[i] }) } }
        }
        for i in answers.indices { answers[i].heatmap = try overlays[i]?.get() }
        return answers
    }
}

extension TrainedModel {
    /// The members' Grad-CAMs of class `target` for picture `index` of a pass, summed and scaled
    /// to 0...1 (`side` x `side`, row by row): what the heatmaps draw.
    func summedCAM(output: BackboneResult, index i: Int, target: Int) throws -> (cam: [Float], side: Int) {
        var cam: [Float] = [], side = 0
        for member in members {
            let one = try member.gradCAM(frozen: output, index: i, target: target)
            side = one.side
            cam = cam.isEmpty ? one.cam : zip(cam, one.cam).map(+)
        }
        let top = cam.max() ?? 0
        if top > 0 { cam = cam.map { $0 / top } }
        return (cam, side)
    }

    /// Each file's Grad-CAM of the class `decision` predicts on it (the heatmap `explain`
    /// draws, undrawn), by path, `batchSize` files a pass; files that do not decode are left out.
    public func gradCAMs(paths: [String], batchSize: Int = 16, decision: DecisionRule) throws -> [String: (cam: [Float], side: Int)] {
        let embedder = ImageEmbedder(network: frozen, preprocessor: preprocessor, decoder: decoder, threads: threads, crop: crop)
        var out: [String: (cam: [Float], side: Int)] = [:]
        for start in stride(from: 0, to: paths.count, by: batchSize) {
            let chunk = Array(paths[start..<min(start + batchSize, paths.count)])
            let pass = try embedder.forward(chunk, outputs: reads.union(.featureMap))
            guard let output = pass.output else { continue }
            let probabilities = try self.probabilities(frozen: output)
            for (i, path) in pass.kept(chunk).enumerated() {
                let row = Array(probabilities[(i * classes)..<((i + 1) * classes)])
                out[path] = try summedCAM(output: output, index: i, target: decision.predicted(row))
            }
        }
        return out
    }

    /// The same frozen part with only the members `range` (a cross-fitted run's fold members:
    /// what scores the pictures those members never saw).
    /// It keeps the calibration (what a run's out-of-fold figures are shown with).
    public func keeping(members range: Range<Int>) -> TrainedModel {
        TrainedModel(frozen: frozen, members: Array(members[range]), preprocessor: preprocessor, decoder: decoder, threads: threads,
                     backbone: cachedBackbone, calibration: calibration, crop: crop)
    }
}
