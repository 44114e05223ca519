import Foundation
import LightboxCore
import LightboxHead
import LightboxKernels
import LightboxModels
import LightboxWorkflows

/// `lightbox-bench finetune-step BATCH SECONDS THREADS`: times one fine-tuning optimiser step
/// (features.14-18 forward with batch statistics, head, backward, AdamW) on a batch of
/// features.13 outputs (seeded random values of the real scale), and the frozen part
/// (features.0-13) on the same batch of images. Prints one JSON line.
func fineTuneStepBenchmark(batch: Int, seconds: Double, settings: LightboxSettings) throws {
    let weights = try PretrainedMobileNetV2.load(from: PretrainedMobileNetV2.folder(in: settings))
    let member = try FineTuneMember(weights: weights, firstModule: 14, classes: 2, seed: 1, arithmetic: settings.arithmetic)
    var g = SeededGenerator(seed: 2, stream: "bench")
    let frozen = (0..<(batch * member.tail.inputSide * member.tail.inputSide * member.tail.inputChannels)).map { _ in
        Float(max(0, g.normal()))
    }
    let labels = (0..<batch).map { $0 % 2 }
    let step = { try member.step(frozen: frozen, batch: batch, labels: labels, classWeights: [1, 1], backboneRate: 3e-4, headRate: 1e-3) }
    let frozenNetwork = try GraphNetwork(graph: try MobileNetV2Architecture().layerGraph(weights: weights, throughModule: 13),
                                         parallelism: settings.threads, arithmetic: settings.arithmetic)
    let images = (0..<(batch * 224 * 224 * 3)).map { _ in Float(g.normal()) }
    let frozenPass = { _ = try images.withUnsafeBufferPointer { try frozenNetwork.forward($0.baseAddress!, batch: batch, outputs: .featureMap) } }
    func median(_ work: () throws -> Void) rethrows -> Double {
        for _ in 0..<2 { try work() }
        var times: [Double] = []
        let start = DispatchTime.now().uptimeNanoseconds
        while Double(DispatchTime.now().uptimeNanoseconds - start) / 1e9 < seconds || times.count < 5 {
            let t0 = DispatchTime.now().uptimeNanoseconds
            try work()
            times.append(Double(DispatchTime.now().uptimeNanoseconds - t0) / 1e9)
        }
        return times.sorted()[times.count / 2]
    }
    let stepTime = try median { _ = try step() }
    let frozenTime = try median(frozenPass)
    print("{\"batch\": \(batch), \"precision\": \"\(settings.arithmetic.precision.rawValue)\(settings.arithmetic.kernels == .emulated ? "-emulated" : "")\", \"step_ms_per_image\": \(stepTime / Double(batch) * 1e3), \"frozen_ms_per_image\": \(frozenTime / Double(batch) * 1e3)}")
}
