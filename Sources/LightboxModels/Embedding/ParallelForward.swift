import Foundation
import LightboxKernels

/// A network's primitives for one image, bound to their buffers.
protocol SingleImagePlan: AnyObject {
    /// Where the image goes (NHWC floats).
    var input: AlignedBuffer { get }
    /// The last feature map after `run` (`positions * channels` floats, NHWC).
    var featureMap: UnsafePointer<Float> { get }
    func run(on stream: DNNLStream) throws
}

/// How a backbone uses the cores (measured, see BENCHMARKS.md): a single image runs with all
/// cores inside each convolution; a batch is split into one-image passes, one worker per
/// core, each single-threaded. Small convolutional layers scale poorly across threads, and
/// one image's activations stay in a core's cache where a batch's do not.
final class ParallelForward: @unchecked Sendable {
    let parallelism: Int
    let makePlan: () throws -> SingleImagePlan
    private let workers: [Worker]
    /// Runs single images with all cores; its plan is built for that thread count (oneDNN
    /// picks kernels and work splits when a primitive is created).
    private let latencyWorker: Worker
    private let lock = NSLock()

    /// One core's share: its own stream and plan, built on first use from the thread that runs it.
    final class Worker {
        let stream: DNNLStream
        var plan: SingleImagePlan?
        init() throws { stream = try DNNLStream() }
    }

    init(parallelism: Int, makePlan: @escaping () throws -> SingleImagePlan) throws {
        self.parallelism = max(1, parallelism)
        self.makePlan = makePlan
        workers = try (0..<self.parallelism).map { _ in try Worker() }
        latencyWorker = try Worker()
    }

    /// Runs `batch` images (`valuesPerImage` floats each) and returns the pooled embeddings and,
    /// if asked, the feature maps (`positions * channels` per image).
    func run(_ input: UnsafePointer<Float>, batch: Int, valuesPerImage: Int, positions: Int, channels: Int,
             wantFeatures: Bool) throws -> (embeddings: [Float], featureMap: [Float]?) {
        precondition(batch >= 1)
        lock.lock()
        defer { lock.unlock() }
        let embeddingsBase = UnsafeMutablePointer<Float>.allocate(capacity: batch * channels)
        let featuresBase = UnsafeMutablePointer<Float>.allocate(capacity: wantFeatures ? batch * positions * channels : 1)
        defer {
            embeddingsBase.deallocate()
            featuresBase.deallocate()
        }
        let runImage = { (i: Int, worker: Worker, threads: Int) throws in
            if worker.plan == nil {
                KernelThreads.setForCurrentThread(threads)
                worker.plan = try self.makePlan()
            }
            let plan = worker.plan!
            plan.input.pointer.update(from: input + i * valuesPerImage, count: valuesPerImage)
            try plan.run(on: worker.stream)
            Pooling.globalAverage(plan.featureMap, batch: 1, positions: positions, channels: channels,
                                  output: embeddingsBase + i * channels)
            if wantFeatures {
                (featuresBase + i * positions * channels).update(from: plan.featureMap, count: positions * channels)
            }
        }
        if batch == 1 || parallelism == 1 {
            KernelThreads.setForCurrentThread(parallelism)
            for i in 0..<batch { try runImage(i, latencyWorker, parallelism) }
        } else {
            let count = min(parallelism, batch)
            let failures = UnsafeMutableBufferPointer<Error?>.allocate(capacity: count)
            failures.initialize(repeating: nil)
            defer { failures.deallocate() }
            DispatchQueue.concurrentPerform(iterations: count) { w in
                KernelThreads.setForCurrentThread(1)
                do {
                    for i in stride(from: w, to: batch, by: count) { try runImage(i, self.workers[w], 1) }
                } catch {
                    failures[w] = error
                }
            }
            if let failure = failures.compactMap({ $0 }).first { throw failure }
        }
        return (Array(UnsafeBufferPointer(start: embeddingsBase, count: batch * channels)),
                wantFeatures ? Array(UnsafeBufferPointer(start: featuresBase, count: batch * positions * channels)) : nil)
    }
}
