import LightboxCore
import LightboxData
import LightboxImaging
import LightboxModels

extension TrainingConfiguration {
    /// The run's settings as the report's parameter table shows them.
    func reportParameters(positiveClass: String?) -> [(String, String)] {
        methodParameters(positiveClass: positiveClass) + [("precision", Self.precisionDescription(settings.arithmetic)),
                                                          ("crop", cropDescription)]
    }

    /// What every picture was cut to before the resize, for a reader of the report.
    var cropDescription: String {
        switch crop {
        case .none: "none (whole pictures)"
        case .lungs: "lungs: each picture cut to its predicted lung box plus \(Int((LungBox.margin * 100).rounded()))% on each side, before the resize"
            + (lungLocator == nil ? "" : " (lung locator from --locator)")
        }
    }

    /// What the products computed in, for a reader of the report.
    static func precisionDescription(_ arithmetic: Arithmetic) -> String {
        switch (arithmetic.precision, arithmetic.kernels) {
        case (.fp32, _): "fp32"
        case (.bf16, .native): "bf16 products (1x1 convolutions, fine-tuning's products) with float32 sums, on the CPU's AVX-512 BF16 kernels"
        case (.bf16, .emulated): "bf16 products (1x1 convolutions, fine-tuning's products) with float32 sums, emulated with fp32 kernels (this CPU has no AVX-512 BF16)"
        }
    }

    private func methodParameters(positiveClass: String?) -> [(String, String)] {
        let t = training, a = augmentation
        if method == .finetune {
            let f = fineTune, cut = fineTune.cut
            return [
                ("method", "fine-tuning: MobileNetV2 (ImageNet, torchvision weights) features.\(cut.frozen.lowerBound)-\(cut.frozen.upperBound) frozen, features.\(cut.trained.lowerBound)-\(cut.trained.upperBound) trained with batch norm in training mode"),
                ("ensemble", "\(members) member(s), probabilities averaged"),
                ("head", "global average pool, dropout \(f.dropout), linear to the classes; cross-entropy weighted by inverse class frequency"),
                ("optimiser", "AdamW, weight decay \(f.weightDecay), learning rate \(f.backboneRate) (backbone) and \(f.headRate) (head), cosine decay to 0"),
                ("epochs", "\(t.epochs)"), ("batch size", "\(t.batchSize)"), ("seed", "\(t.seed)"),
                ("augmentation", "fresh every epoch, training split only: rotation ±10°, shift ±8%, zoom 0.9-1.1, brightness ±0.1, contrast 0.8-1.2"),
                ("resize", resize.rawValue), ("equalisation", equalization.rawValue), ("split (train/validation/test)", "\(split.train)/\(split.validation)/\(split.test)"),
                ("positive class", positiveClass ?? "n/a"), ("target sensitivity (validation)", "\(targetSensitivity)"),
            ]
        }
        return [
            ("backbone", teachableMachineBackbone == nil ? "MobileNetV2 (ImageNet, torchvision weights), frozen"
                : "the MobileNet of a Teachable Machine export, frozen"),
            ("resize", resize.rawValue), ("equalisation", equalization.rawValue), ("split (train/validation/test)", "\(split.train)/\(split.validation)/\(split.test)"),
            ("seed", "\(t.seed)"), ("balance", balance.description), ("augmented copies per image", "\(augmentCopies)"),
            ("augmentation ranges", "rotation ±\(a.rotation)°, shift ±\(a.shift), zoom ±\(a.zoom), brightness ±\(a.brightness), contrast ±\(a.contrast), gamma ±\(a.gamma), noise σ \(a.noise), horizontal flip \(a.horizontalFlip ? "on" : "off")"),
            ("head", "Dense(\(t.denseUnits), relu)\(t.dropout > 0 ? " + dropout \(t.dropout)" : "") + Dense(classes, softmax)"),
            ("optimiser", "Adam, learning rate \(t.learningRate)"), ("epochs", "\(t.epochs)"), ("batch size", "\(t.batchSize)"),
        ] + (members > 1 ? [("ensemble", "\(members) heads, seeds \(t.seed) to \(t.seed &+ UInt64(members - 1)), probabilities averaged")] : []) + [
            ("early stopping patience", t.earlyStoppingPatience > 0 ? "\(t.earlyStoppingPatience)" : "off"),
            ("class weights", t.classWeights ? "balanced" : "off"),
            ("positive class", positiveClass ?? "n/a"), ("target sensitivity (validation)", "\(targetSensitivity)"),
        ]
    }
}
