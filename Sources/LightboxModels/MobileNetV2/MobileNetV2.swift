import Foundation
import LightboxKernels

/// What one forward pass should produce besides the embedding.
public struct BackboneOutputs: OptionSet, Sendable {
    public let rawValue: Int
    public init(rawValue: Int) { self.rawValue = rawValue }
    /// The last feature map, `[N, 7, 7, 1280]` (NHWC), for class-activation heatmaps.
    public static let featureMap = BackboneOutputs(rawValue: 1)
    /// ImageNet class scores (logits), `[N, 1000]`.
    public static let imageNetLogits = BackboneOutputs(rawValue: 2)
}

/// The result of a forward pass over a batch of `batch` images.
public struct BackboneResult: Sendable {
    public var batch: Int
    /// `[batch, embeddingChannels]`: the global average pool of the last feature map.
    public var embeddings: [Float]
    public var featureMap: [Float]?
    public var featureMapShape: [Int]  // [N, H, W, C]
    public var logits: [Float]?
}

/// MobileNetV2 with batch norm folded, running on oneDNN convolutions and an OpenBLAS
/// classifier. Plans (primitives bound to buffers) are built per batch size and reused;
/// an instance runs one forward pass at a time.
///
/// How the cores are used (measured, see BENCHMARKS.md): a single image runs with all
/// cores inside each convolution; a batch is split into one-image passes, one worker per
/// core, each single-threaded. Small MobileNet layers scale poorly across threads, and
/// one image's activations stay in a core's cache where a batch's do not.
public final class MobileNetV2: @unchecked Sendable {
    public let architecture: MobileNetV2Architecture
    let stem: FoldedConvolution
    let blocks: [[FoldedConvolution]]
    let head: FoldedConvolution
    let classifierWeights: [Float]?
    let classifierBias: [Float]?
    /// Cores a forward pass may use.
    public let parallelism: Int

    private let workers: [Worker]
    /// Runs single images with all cores inside each convolution; its plan is built for that
    /// thread count (oneDNN picks kernels and work splits when a primitive is created).
    private let latencyWorker: Worker
    private let lock = NSLock()

    public init(weights: NamedTensors, architecture: MobileNetV2Architecture = .init(),
                parallelism: Int = KernelThreads.available) throws {
        self.architecture = architecture
        self.parallelism = max(1, parallelism)
        let layers = architecture.layers
        stem = try FoldedConvolution(unit: layers.stem, from: weights)
        blocks = try layers.blocks.map { try $0.units.map { try FoldedConvolution(unit: $0, from: weights) } }
        head = try FoldedConvolution(unit: layers.head, from: weights)
        let name = architecture.classifier
        if weights.tensors["\(name).weight"] != nil {
            classifierWeights = try weights.tensor("\(name).weight",
                                                   shape: [architecture.classes, architecture.embeddingChannels]).values
            classifierBias = try weights.tensor("\(name).bias", shape: [architecture.classes]).values
        } else {
            classifierWeights = nil
            classifierBias = nil
        }
        workers = try (0..<self.parallelism).map { _ in try Worker() }
        latencyWorker = try Worker()
    }

    public var embeddingChannels: Int { architecture.embeddingChannels }
    public var inputSize: Int { architecture.inputSize }

    /// Runs the network on `batch` images already preprocessed into NHWC floats
    /// (`batch * inputSize * inputSize * 3` values).
    public func forward(_ input: UnsafePointer<Float>, batch: Int, outputs: BackboneOutputs = []) throws -> BackboneResult {
        precondition(batch >= 1)
        lock.lock()
        defer { lock.unlock() }
        let c = embeddingChannels
        let side = architecture.featureMapSize
        let positions = side * side
        let inputValues = inputSize * inputSize * 3
        let wantFeatures = outputs.contains(.featureMap)
        let embeddingsBase = UnsafeMutablePointer<Float>.allocate(capacity: batch * c)
        let featuresBase = UnsafeMutablePointer<Float>.allocate(capacity: wantFeatures ? batch * positions * c : 1)
        defer {
            embeddingsBase.deallocate()
            featuresBase.deallocate()
        }

        // Runs image `i` on `worker` and copies out what is asked for.
        let runImage = { (i: Int, worker: Worker) throws in
            let plan = try worker.plan(for: self, threads: worker === self.latencyWorker ? self.parallelism : 1)
            plan.input.pointer.update(from: input + i * inputValues, count: inputValues)
            try plan.run(on: worker.stream)
            Pooling.globalAverage(plan.featureMap, batch: 1, positions: positions, channels: c,
                                  output: embeddingsBase + i * c)
            if wantFeatures {
                (featuresBase + i * positions * c).update(from: plan.featureMap, count: positions * c)
            }
        }
        if batch == 1 || parallelism == 1 {
            KernelThreads.setForCurrentThread(parallelism)
            for i in 0..<batch { try runImage(i, latencyWorker) }
        } else {
            let count = min(parallelism, batch)
            let failures = UnsafeMutableBufferPointer<Error?>.allocate(capacity: count)
            failures.initialize(repeating: nil)
            defer { failures.deallocate() }
            DispatchQueue.concurrentPerform(iterations: count) { w in
                KernelThreads.setForCurrentThread(1)
                do {
                    for i in stride(from: w, to: batch, by: count) { try runImage(i, self.workers[w]) }
                } catch {
                    failures[w] = error
                }
            }
            if let failure = failures.compactMap({ $0 }).first { throw failure }
        }
        let embeddings = Array(UnsafeBufferPointer(start: embeddingsBase, count: batch * c))
        let featureMap = wantFeatures ? Array(UnsafeBufferPointer(start: featuresBase, count: batch * positions * c)) : nil

        var result = BackboneResult(batch: batch, embeddings: embeddings,
                                    featureMap: featureMap,
                                    featureMapShape: [batch, side, side, c], logits: nil)
        if outputs.contains(.imageNetLogits) {
            guard let w = classifierWeights, let b = classifierBias else {
                throw WeightsError("these weights have no ImageNet classifier")
            }
            let k = architecture.classes
            var logits = [Float](repeating: 0, count: batch * k)
            logits.withUnsafeMutableBufferPointer { out in
                BLAS.dense(input: embeddings, rows: batch, inputs: c, weights: w, bias: b, outputs: k, output: out.baseAddress!)
            }
            result.logits = logits
        }
        return result
    }

    /// One core's share of the work: its own stream and its own single-image plan,
    /// built on first use from the thread that runs it (oneDNN picks kernels for the
    /// thread count in force when a primitive is created).
    final class Worker {
        let stream: DNNLStream
        private var singleImagePlan: ForwardPlan?

        init() throws { stream = try DNNLStream() }

        func plan(for network: MobileNetV2, threads: Int) throws -> ForwardPlan {
            if let p = singleImagePlan { return p }
            let p = try ForwardPlan(network: network, batch: 1, threads: threads)
            singleImagePlan = p
            return p
        }
    }
}

/// The primitives of one batch size, bound to three activation buffers:
/// a block reads its input from A, expands into B, filters into C and projects back
/// into A (adding to it for residual blocks), so the block's output is again in A.
final class ForwardPlan {
    let input: AlignedBuffer
    private let a: AlignedBuffer, b: AlignedBuffer, c: AlignedBuffer
    private let steps: [DNNLConvolution]
    let featureHeight: Int, featureWidth: Int
    var featureMap: UnsafePointer<Float> { UnsafePointer(b.pointer) }

    init(network: MobileNetV2, batch: Int, threads: Int) throws {
        let size = network.inputSize
        // Sizes first: walk the network once to find each buffer's largest use.
        var h = size
        var maxA = 0, maxB = 0, maxC = 0
        h = network.stem.spec.outputSize(h)
        maxA = max(maxA, h * h * network.stem.spec.outputChannels)
        for block in network.blocks {
            for (i, unit) in block.enumerated() {
                let out = unit.spec.outputSize(h)
                let n = out * out * unit.spec.outputChannels
                if i == block.count - 1 { maxA = max(maxA, n) } else if unit.spec.groups > 1 { maxC = max(maxC, n) } else { maxB = max(maxB, n) }
                h = out
            }
        }
        maxB = max(maxB, h * h * network.head.spec.outputChannels)

        input = AlignedBuffer(count: batch * size * size * 3)
        a = AlignedBuffer(count: batch * maxA)
        b = AlignedBuffer(count: batch * maxB)
        c = AlignedBuffer(count: batch * maxC)

        // Measured: running the small late layers single-threaded inside a two-thread pass
        // is slower (140-200 against 206 img/s), so every step uses `threads`.
        KernelThreads.setForCurrentThread(threads)
        var steps: [DNNLConvolution] = []
        func add(_ conv: FoldedConvolution, _ from: AlignedBuffer, _ to: AlignedBuffer, _ h: inout Int) throws {
            let step = try DNNLConvolution(spec: conv.spec, weights: conv.weights, bias: conv.bias, batch: batch,
                                           inputHeight: h, inputWidth: h, source: from.pointer, destination: to.pointer)
            h = step.outputHeight
            steps.append(step)
        }
        h = size
        try add(network.stem, input, a, &h)
        for block in network.blocks {
            var source = a
            for (i, unit) in block.enumerated() {
                let destination = i == block.count - 1 ? a : (unit.spec.groups > 1 ? c : b)
                try add(unit, source, destination, &h)
                source = destination
            }
        }
        try add(network.head, a, b, &h)
        self.steps = steps
        featureHeight = h
        featureWidth = h
    }

    func run(on stream: DNNLStream) throws {
        for step in steps { try step.run(on: stream) }
    }
}
