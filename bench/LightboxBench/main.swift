// Times Lightbox's MobileNetV2 forward pass on preprocessed inputs, for bench/embedding_benchmark.py.
// Usage: lightbox-bench INPUT.npy BATCH SECONDS THREADS
// INPUT.npy: float32 [N, 224, 224, 3] (NHWC, normalised). Prints one JSON line.
// Or: lightbox-bench finetune-step BATCH SECONDS THREADS (see FineTuneStep.swift).
import Foundation
import LightboxCore
import LightboxKernels
import LightboxModels

let args = CommandLine.arguments
guard args.count == 5, let batch = Int(args[2]), let seconds = Double(args[3]), let threads = Int(args[4]) else {
    FileHandle.standardError.write(Data("usage: lightbox-bench INPUT.npy BATCH SECONDS THREADS\n".utf8))
    exit(2)
}
// The run context, passed down: the environment's cache, THREADS threads.
let settings = LightboxSettings(environment: ProcessInfo.processInfo.environment).with(threads: threads)
do {
    KernelThreads.setForCurrentThread(settings.threads)
    if args[1] == "finetune-step" {
        // As `lightbox` itself runs (its main does this first): freed activations stay in the
        // process instead of being page-faulted in again every step. torch gets the same from
        // the benchmark's malloc settings.
        AllocatorTuning.keepFreedMemory()
        try fineTuneStepBenchmark(batch: batch, seconds: seconds, settings: settings)
        exit(0)
    }
    let (values, shape) = try NPYFile.decode(try Data(contentsOf: URL(fileURLWithPath: args[1])), source: args[1])
    let per = shape.dropFirst().reduce(1, *)
    precondition(shape[0] >= batch, "input holds fewer than \(batch) images")
    let network = try MobileNetV2(weights: PretrainedMobileNetV2.load(from: PretrainedMobileNetV2.folder(in: settings)),
                                  parallelism: settings.threads)
    var embeddings: [Float] = []
    let run = {
        try values.withUnsafeBufferPointer { embeddings = try network.forward($0.baseAddress!, batch: batch).embeddings }
    }
    for _ in 0..<3 { try run() }  // warm: plans built, caches filled
    var times: [Double] = []
    let start = DispatchTime.now().uptimeNanoseconds
    while Double(DispatchTime.now().uptimeNanoseconds - start) / 1e9 < seconds || times.count < 5 {
        let t0 = DispatchTime.now().uptimeNanoseconds
        try run()
        times.append(Double(DispatchTime.now().uptimeNanoseconds - t0) / 1e9)
    }
    times.sort()
    let median = times[times.count / 2]
    _ = per
    print("{\"batch\": \(batch), \"iterations\": \(times.count), \"median_s\": \(median), \"images_per_s\": \(Double(batch) / median), \"checksum\": \(embeddings.prefix(1280).reduce(0, +))}")
} catch {
    FileHandle.standardError.write(Data("error: \(error)\n".utf8))
    exit(1)
}
