import LightboxData

extension TrainingConfiguration {
    /// The run's settings as the report's parameter table shows them.
    func reportParameters(positiveClass: String?) -> [(String, String)] {
        let t = training, a = augmentation
        return [
            ("backbone", teachableMachineBackbone == nil ? "MobileNetV2 (ImageNet, torchvision weights), frozen"
                : "the MobileNet of a Teachable Machine export, frozen"),
            ("resize", resize.rawValue), ("split (train/validation/test)", "\(split.train)/\(split.validation)/\(split.test)"),
            ("seed", "\(t.seed)"), ("balance", balance.description), ("augmented copies per image", "\(augmentCopies)"),
            ("augmentation ranges", "rotation ±\(a.rotation)°, shift ±\(a.shift), zoom ±\(a.zoom), brightness ±\(a.brightness), contrast ±\(a.contrast), gamma ±\(a.gamma), noise σ \(a.noise), horizontal flip \(a.horizontalFlip ? "on" : "off")"),
            ("head", "Dense(\(t.denseUnits), relu)\(t.dropout > 0 ? " + dropout \(t.dropout)" : "") + Dense(classes, softmax)"),
            ("optimiser", "Adam, learning rate \(t.learningRate)"), ("epochs", "\(t.epochs)"), ("batch size", "\(t.batchSize)"),
            ("early stopping patience", t.earlyStoppingPatience > 0 ? "\(t.earlyStoppingPatience)" : "off"),
            ("class weights", t.classWeights ? "balanced" : "off"),
            ("positive class", positiveClass ?? "n/a"),
        ]
    }
}
