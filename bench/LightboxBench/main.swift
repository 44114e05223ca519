// Times Lightbox's MobileNetV2 forward pass on preprocessed inputs, for bench/embedding_benchmark.py.
// Usage: lightbox-bench INPUT.npy BATCH SECONDS THREADS [fp32|bf16|bf16-emulated]
// INPUT.npy: float32 [N, 224, 224, 3] (NHWC, normalised). Prints one JSON line; with
// LIGHTBOX_BENCH_EMBEDDINGS=OUT.npy set, also writes the embeddings of the BATCH images there.
// Or: lightbox-bench finetune-step BATCH SECONDS THREADS [PRECISION] (see FineTuneStep.swift).
// PRECISION (default fp32): bf16 runs oneDNN's AVX-512 BF16 kernels and fails on a CPU without
// them; bf16-emulated runs bf16's numbers on fp32 kernels (slower than fp32, for comparison).
import Foundation
import LightboxCore
import LightboxKernels
import LightboxModels

let args = CommandLine.arguments
let precisions: [String: Arithmetic] = ["fp32": .fp32, "bf16": .bf16, "bf16-emulated": .bf16Emulated]
guard args.count == 5 || args.count == 6, let batch = Int(args[2]), let seconds = Double(args[3]), let threads = Int(args[4]),
      let arithmetic = precisions[args.count == 6 ? args[5] : "fp32"] else {
    FileHandle.standardError.write(Data("usage: lightbox-bench INPUT.npy BATCH SECONDS THREADS [fp32|bf16|bf16-emulated]\n".utf8))
    exit(2)
}
if arithmetic == .bf16, !BF16Support.detected.available {
    FileHandle.standardError.write(Data("error: bf16: \(BF16Support.detected.reason)\n".utf8))
    exit(3)
}
// The run context, passed down: the environment's cache, THREADS threads, the precision.
let settings = LightboxSettings(environment: ProcessInfo.processInfo.environment).with(threads: threads).with(arithmetic: arithmetic)
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
                                  parallelism: settings.threads, arithmetic: settings.arithmetic)
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
    // For the benchmark's accuracy columns: the last pass's embeddings, [BATCH, 1280] float32.
    if let path = ProcessInfo.processInfo.environment["LIGHTBOX_BENCH_EMBEDDINGS"] {
        try NPYFile.encode(embeddings, shape: [batch, embeddings.count / batch]).write(to: URL(fileURLWithPath: path))
    }
    _ = per
    print("{\"batch\": \(batch), \"precision\": \"\(args.count == 6 ? args[5] : "fp32")\", \"iterations\": \(times.count), \"median_s\": \(median), \"images_per_s\": \(Double(batch) / median), \"checksum\": \(embeddings.prefix(1280).reduce(0, +))}")
} catch {
    FileHandle.standardError.write(Data("error: \(error)\n".utf8))
    exit(1)
}
