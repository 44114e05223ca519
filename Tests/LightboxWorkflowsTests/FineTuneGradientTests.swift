import Foundation
import LightboxCore
import LightboxHead
import LightboxKernels
import LightboxModels
import LightboxTestSupport
import XCTest
@testable import LightboxWorkflows

/// Fine-tuning's numerics against torch: scripts/reference/finetune_reference.py builds the same
/// MobileNetV2 from the same checkpoint and runs one training step on eight real X-rays
/// (features.0-13 frozen, 14-18 training with batch statistics, a linear head from a fixed
/// initialisation, class-weighted cross-entropy). Lightbox must give the same frozen feature
/// map (relative difference below 1e-4), loss, gradient of every trainable tensor and updated
/// running statistics, and the change one AdamW step makes (relative differences below 1e-3,
/// against torch computing that step in float64; for a gradient where torch's own float32 step
/// is further than that from float64, within 1.5 times torch's distance).
final class FineTuneGradientTests: TemporaryFolderTestCase {
    static let labels = [0, 0, 0, 0, 0, 1, 1, 1]

    /// Runs the reference script in `mode` into `work/folder`.
    func reference(mode: String, _ extra: [String] = [], folder: String = "reference") throws -> URL {
        let python = try TorchReference.requirePython()
        let out = work.appendingPathComponent(folder)
        let (status, message) = try ReferenceScript.run(python, [TorchReference.script("finetune_reference.py"),
                             "--checkpoint", PretrainedMobileNetV2.checkpointPath(in: TestSettings.weightsFolder),
                             "--images", TorchReference.shared.appendingPathComponent("data/covid-chestxray/images").path,
                             "--labels", Self.labels.map(String.init).joined(separator: ","),
                             "--out", out.path, "--mode", mode] + extra)
        // The venv exists: a failing reference is a failure, never a skip.
        guard status == 0 else { throw ReferenceFailure(message: message) }
        return out
    }

    /// The projection batch norms' betas in features.14-17: each is followed, on every path to
    /// the loss, by a 1x1 convolution and a training-mode batch norm, which remove a
    /// per-channel shift, so their gradient is zero.
    static func zeroGradient(_ name: String) -> Bool {
        name.hasSuffix("conv.3.bias") && ["features.14.", "features.15.", "features.16.", "features.17."].contains { name.hasPrefix($0) }
    }

    struct ReferenceFailure: Error, CustomStringConvertible {
        let message: String
        var description: String { "scripts/reference/finetune_reference.py failed: \(message)" }
    }

    func array(_ url: URL) throws -> [Float] { try NPYFile.decode(try Data(contentsOf: url), source: url.path).values }

    /// |a - b| / |b| over the whole tensor; `floor` keeps tensors whose values are roundoff
    /// (the betas of a batch norm followed by a 1x1 convolution and another training-mode
    /// batch norm have a gradient of exactly zero, computed as about 1e-8) from dividing by zero.
    func relativeDifference(_ a: [Float], _ b: [Float], floor: Double = 1e-4) -> Double {
        precondition(a.count == b.count, "sizes \(a.count) and \(b.count)")
        var diff = 0.0, norm = 0.0
        for (x, y) in zip(a, b) {
            diff += Double(x - y) * Double(x - y)
            norm += Double(y) * Double(y)
        }
        return diff.squareRoot() / max(norm.squareRoot(), floor)
    }

    func testFrozenPartMatchesTorch() throws {
        let out = try reference(mode: "step")
        let inputs = try array(out.appendingPathComponent("inputs.npy"))
        let graph = try MobileNetV2Architecture.standard.layerGraph(weights: try PretrainedMobileNetV2.load(from: TestSettings.weightsFolder), throughModule: 13)
        let network = try GraphNetwork(graph: graph, parallelism: TestSettings.local.threads)
        let frozen = try inputs.withUnsafeBufferPointer {
            try network.forward($0.baseAddress!, batch: Self.labels.count, outputs: .featureMap)
        }.featureMap!
        XCTAssertLessThan(relativeDifference(frozen, try array(out.appendingPathComponent("frozen.npy"))), 1e-4)
    }

    func testOneTrainingStepMatchesTorch() throws {
        // Against torch in float64. Chained training-mode batch norms cancel most of each
        // gradient (and one depthwise batch norm in features.16 is ill-conditioned), so a float32
        // step can be 1e-3 or more from float64 in the first trained module, by how the eight
        // pictures fall: torch's own float32 step was 1.2e-3 to 2.3e-3 away in features.14 on one
        // machine's copy of the data and below 1e-3 on another. So each tensor's bound is 1e-3
        // or 1.5 times torch's own float32 distance, whichever is larger: Lightbox's float32 step
        // must be as close to float64 as torch's float32 step is.
        let out = try reference(mode: "step", ["--precision", "float64"])
        let torch32 = try reference(mode: "step", folder: "reference-float32")
        let tail = try TrainableTail(weights: try PretrainedMobileNetV2.load(from: TestSettings.weightsFolder), firstModule: 14)
        let batch = Self.labels.count
        let (featureMap, trace) = try tail.forward(try array(out.appendingPathComponent("frozen.npy")), batch: batch, training: true)
        let head = LinearClassifier(weight: try array(out.appendingPathComponent("head_init/weight.npy")),
                                    bias: try array(out.appendingPathComponent("head_init/bias.npy")), inputs: 1280, classes: 2)
        let counts = [0, 1].map { c in Self.labels.filter { $0 == c }.count }
        let classWeights = counts.map { Float(batch) / Float(2 * $0) }
        let step = head.step(featureMap: featureMap, batch: batch, positions: trace.outputSide * trace.outputSide,
                             labels: Self.labels, classWeights: classWeights)

        let expected = try JSONSerialization.jsonObject(with: Data(contentsOf: out.appendingPathComponent("step.json"))) as! [String: Any]
        let loss = (expected["loss"] as! NSNumber).floatValue
        XCTAssertEqual(step.loss, loss, accuracy: abs(loss) * 1e-4)
        XCTAssertLessThan(relativeDifference(step.logits, (expected["logits"] as! [[NSNumber]]).flatMap { $0.map(\.floatValue) }), 1e-4)

        var gradients = try tail.backward(step.featureMapGradient, trace: trace)
        gradients["head.weight"] = step.weightGradient
        gradients["head.bias"] = step.biasGradient
        let files = try FileManager.default.contentsOfDirectory(atPath: out.appendingPathComponent("grads").path)
        XCTAssertEqual(Set(files.map { String($0.dropLast(4)) }), Set(gradients.keys), "every trainable tensor, and only those")
        for (name, ours) in gradients {
            let theirs = try array(out.appendingPathComponent("grads/\(name).npy"))
            if Self.zeroGradient(name) {
                // Exactly zero (a shift every path removes); both sides compute roundoff.
                XCTAssertLessThan(relativeDifference(ours, [Float](repeating: 0, count: ours.count), floor: 1), 1e-5, name)
            } else {
                let torchOwn = relativeDifference(try array(torch32.appendingPathComponent("grads/\(name).npy")), theirs)
                XCTAssertLessThan(relativeDifference(ours, theirs), max(1e-3, 1.5 * torchOwn),
                                  "\(name) (torch's own float32 gradient is \(torchOwn) from float64)")
            }
        }
        // One AdamW step (T = 1: the base rates) on torch's gradients (where a gradient is
        // roundoff, Adam's sign of it is noise), compared as the change of each tensor.
        let before = tail.parameters.merging(["head.weight": head.weight, "head.bias": head.bias]) { a, _ in a }
        var optimiser = Adam.torchAdamW(weightDecay: 0.01)
        optimiser.beginStep()
        for name in before.keys.sorted() {
            var updated = before[name]!
            optimiser.update(name, &updated, gradient: try array(out.appendingPathComponent("grads/\(name).npy")),
                             learningRate: CosineSchedule.rate(base: name.hasPrefix("head.") ? 1e-3 : 3e-4, step: 0, total: 1))
            let theirs = try array(out.appendingPathComponent("updated/\(name).npy"))
            let ours = zip(updated, before[name]!).map { $0 - $1 }, expected = zip(theirs, before[name]!).map { $0 - $1 }
            XCTAssertLessThan(relativeDifference(ours, expected, floor: 1e-6), 1e-3, name)
        }

        // Running statistics are of order one or (for batch norms after a projection, whose
        // inputs have a batch mean of zero) near zero: compared with a floor of 1.
        for (name, ours) in tail.runningStatistics {
            XCTAssertLessThan(relativeDifference(ours, try array(out.appendingPathComponent("running/\(name).npy")), floor: 1), 1e-4, name)
        }
    }

    /// One step's loss and gradients (torch names, the head's included) on the reference's
    /// frozen feature map and head, with the trained modules' products in `arithmetic`.
    func ourStep(_ arithmetic: Arithmetic, reference out: URL) throws -> (loss: Float, gradients: [String: [Float]]) {
        let tail = try TrainableTail(weights: try PretrainedMobileNetV2.load(from: TestSettings.weightsFolder), firstModule: 14)
        tail.arithmetic = arithmetic
        let batch = Self.labels.count
        let (featureMap, trace) = try tail.forward(try array(out.appendingPathComponent("frozen.npy")), batch: batch, training: true)
        let head = LinearClassifier(weight: try array(out.appendingPathComponent("head_init/weight.npy")),
                                    bias: try array(out.appendingPathComponent("head_init/bias.npy")), inputs: 1280, classes: 2)
        let counts = [0, 1].map { c in Self.labels.filter { $0 == c }.count }
        let step = head.step(featureMap: featureMap, batch: batch, positions: trace.outputSide * trace.outputSide,
                             labels: Self.labels, classWeights: counts.map { Float(batch) / Float(2 * $0) })
        var gradients = try tail.backward(step.featureMapGradient, trace: trace)
        gradients["head.weight"] = step.weightGradient
        gradients["head.bias"] = step.biasGradient
        return (step.loss, gradients)
    }

    /// The bf16 step against torch's autocast bf16 step and both against torch's float32 step.
    ///
    /// The tolerance: bf16 keeps 8 significant bits (unit roundoff u = 2^-8 = 0.0039), so a
    /// product of two rounded operands is off by up to 2u = 0.008 of its size. A gradient of
    /// features.14 passes through about 30 such products (five modules of two or three 1x1
    /// convolutions, forward and backward) and through chained training-mode batch norms, which
    /// cancel most of each gradient and so magnify relative error: a float32 step is already
    /// 1e-3 from float64 (FineTuneGradientTests above) where single float32 products are 1e-7.
    /// Measured on these eight X-rays, torch's own autocast step is 0.01-0.14 from its float32
    /// step per tensor (relative norm; the largest in features.14-15, furthest from the loss), and
    /// Lightbox's bf16 step 0.008-0.12 (it rounds fewer operands: depthwise convolutions and
    /// stored activations stay float32). So: every tensor within 0.2 (50u) of float32, which
    /// torch's autocast must meet too (the bound is not one only Lightbox meets); Lightbox no
    /// further from float32 than 1.2 times torch's autocast plus 0.01; its bf16 step visibly
    /// different from its float32 step (the rounding happened); the loss within 1%.
    func testBF16StepMatchesTorchAutocast() throws {
        let torch32 = try reference(mode: "step", folder: "reference-float32")
        let torchBF16 = try reference(mode: "step", ["--precision", "autocast-bf16"], folder: "reference-bf16")
        let bf16 = PrecisionChoice.choose(requested: .bf16).arithmetic
        let ours16 = try ourStep(bf16, reference: torch32), ours32 = try ourStep(.fp32, reference: torch32)
        func loss(_ out: URL) throws -> Float {
            let step = try JSONSerialization.jsonObject(with: Data(contentsOf: out.appendingPathComponent("step.json"))) as! [String: Any]
            return (step["loss"] as! NSNumber).floatValue
        }
        let loss32 = try loss(torch32), lossBF16 = try loss(torchBF16)
        XCTAssertEqual(lossBF16, loss32, accuracy: abs(loss32) * 0.01, "torch's own bf16 loss")
        XCTAssertEqual(ours16.loss, loss32, accuracy: abs(loss32) * 0.01, "bf16 loss (\(bf16))")
        var report: [String] = []
        for name in ours16.gradients.keys.sorted() where !Self.zeroGradient(name) {
            let reference32 = try array(torch32.appendingPathComponent("grads/\(name).npy"))
            let torchOwn = relativeDifference(try array(torchBF16.appendingPathComponent("grads/\(name).npy")), reference32)
            let ours = relativeDifference(ours16.gradients[name]!, reference32)
            let rounding = relativeDifference(ours16.gradients[name]!, ours32.gradients[name]!)
            report.append(String(format: "%@: ours %.4f, torch autocast %.4f, ours bf16-fp32 %.4f", name, ours, torchOwn, rounding))
            XCTAssertLessThan(torchOwn, 0.2, "\(name): torch's own bf16 gradient against its float32 one")
            XCTAssertLessThan(ours, 0.2, "\(name): bf16 gradient against torch's float32 one")
            XCTAssertLessThan(ours, 1.2 * torchOwn + 0.01, "\(name): bf16 gradient further from float32 than torch's autocast")
            if name.hasPrefix("features.") && name.hasSuffix("conv.0.0.weight") || name.hasSuffix("conv.2.weight") {
                XCTAssertGreaterThan(rounding, 1e-3, "\(name): a 1x1 convolution's weight gradient unchanged by bf16 rounding")
            }
        }
        print(report.joined(separator: "\n"))
    }

    /// Two epochs of four-image batches in a fixed order, augmentation and dropout off, the
    /// cosine schedule over the four steps: every step's loss within 1e-3 of torch's.
    func testTwoEpochsFollowTorchStepByStep() throws {
        let order = [[3, 0, 7, 5, 1, 6, 2, 4], [6, 1, 4, 0, 7, 2, 5, 3]]
        let orderFile = work.appendingPathComponent("order.json")
        try JSONSerialization.data(withJSONObject: order).write(to: orderFile)
        let out = try reference(mode: "epochs", ["--epochs", "2", "--batch", "4", "--order", orderFile.path,
                                                 "--precision", "float64"])
        let frozen = try array(out.appendingPathComponent("frozen.npy"))
        let per = frozen.count / Self.labels.count
        let member = FineTuneMember(
            tail: try TrainableTail(weights: try PretrainedMobileNetV2.load(from: TestSettings.weightsFolder), firstModule: 14),
            classifier: LinearClassifier(weight: try array(out.appendingPathComponent("head_init/weight.npy")),
                                         bias: try array(out.appendingPathComponent("head_init/bias.npy")), inputs: 1280, classes: 2),
            firstModule: 14)
        let classWeights = [0, 1].map { c in Float(Self.labels.count) / Float(2 * Self.labels.filter { $0 == c }.count) }
        let total = 4
        var losses: [Float] = [], t = 0
        for permutation in order {
            for start in stride(from: 0, to: permutation.count, by: 4) {
                let images = Array(permutation[start..<min(start + 4, permutation.count)])
                losses.append(try member.step(frozen: images.flatMap { frozen[($0 * per)..<(($0 + 1) * per)] }, batch: images.count,
                                          labels: images.map { Self.labels[$0] }, classWeights: classWeights,
                                          backboneRate: CosineSchedule.rate(base: 3e-4, step: t, total: total),
                                          headRate: CosineSchedule.rate(base: 1e-3, step: t, total: total)))
                t += 1
            }
        }
        let expected = try JSONSerialization.jsonObject(with: Data(contentsOf: out.appendingPathComponent("losses.json"))) as! [NSNumber]
        XCTAssertEqual(losses.count, expected.count)
        for (step, (ours, theirs)) in zip(losses, expected.map(\.floatValue)).enumerated() {
            XCTAssertEqual(ours, theirs, accuracy: abs(theirs) * 1e-3, "step \(step)")
        }
        let head = try array(out.appendingPathComponent("final/head.weight.npy"))
        XCTAssertLessThan(relativeDifference(member.classifier.weight, head), 1e-4, "head weights after training")
        XCTAssertLessThan(losses.suffix(2).reduce(0, +), losses.prefix(2).reduce(0, +), "the loss falls")
    }
}

/// The linear head's probability gradient (what Grad-CAM weighs channels with) against
/// central finite differences.
final class LinearClassifierGradientTests: XCTestCase {
    func testProbabilityGradientMatchesFiniteDifferences() {
        var g = SeededGenerator(seed: 5, stream: "linear-gradient")
        let inputs = 6, classes = 3
        let head = LinearClassifier(weight: (0..<(inputs * classes)).map { _ in Float(g.uniform(-1...1)) },
                                    bias: (0..<classes).map { _ in Float(g.uniform(-0.5...0.5)) }, inputs: inputs, classes: classes)
        let x = (0..<inputs).map { _ in Float(g.uniform(-1...1)) }
        for target in 0..<classes {
            let gradient = head.gradientOfProbability(x, target: target)
            for i in 0..<inputs {
                var up = x, down = x
                up[i] += 1e-2
                down[i] -= 1e-2
                let p = { (v: [Float]) in Softmax.apply(head.logits(v, rows: 1))[target] }
                XCTAssertEqual(gradient[i], (p(up) - p(down)) / 2e-2, accuracy: 1e-3, "class \(target), input \(i)")
            }
        }
    }
}
