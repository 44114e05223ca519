import Foundation
import LightboxCore
import LightboxHead
import LightboxImaging
import LightboxModels

/// Writes a model as a Teachable-Machine-compatible TF.js export: `model.json` (the same
/// topology conventions and layer configs as Teachable Machine's own exports), `weights.bin`
/// and `metadata.json` (labels). The backbone is torchvision's MobileNetV2 written as Keras
/// layers (Conv2D + BatchNormalization + ReLU(6), ZeroPadding2D before strided convolutions,
/// Add), preceded by a 1x1 depthwise layer that turns Teachable Machine's `x / 127.5 - 1`
/// input into the ImageNet normalisation the weights expect. A fine-tuned model or an ensemble
/// is one functional model instead (Teachable Machine's runtime does not expect it; tfjs-layers
/// and Keras load it): the frozen part once, each member's own modules, pooling and head, and an
/// Average of the members' probabilities (`KerasModel`).
public enum TFJSExporter {
    public static func export(_ bundle: ModelBundle, to directory: String, weightsFolder: String) throws {
        let keras = try KerasModel(bundle, weightsFolder: weightsFolder)
        let model: [String: Any] = [
            "modelTopology": keras.topology(tfjs: true),
            "weightsManifest": [["paths": ["weights.bin"], "weights": keras.writer.manifest]],
        ]
        var user: [String: Any] = ["generator": "Lightbox", "formatVersion": 1, "backbone": bundle.backbone.id,
                                   "disclaimer": ModelBundle.disclaimer]
        if let steps = bundle.stepsOutsideExport {
            user["equalize"] = bundle.preprocessing.equalize.rawValue
            user["preprocessingOutsideModel"] = steps
        }
        if let point = bundle.operatingPoint {
            // The decision threshold `predict` uses, for users who turn probabilities into a class.
            user["operatingPoint"] = ["positiveClass": point.positiveClass, "threshold": point.threshold,
                                      "targetSensitivity": point.targetSensitivity]
        }
        // The temperature `predict` applies to the averaged probabilities; this model's output is
        // before it, so its user applies softmax(log(p) / T), then the operating point.
        if let calibration = bundle.calibrationMetadata(inGraph: false) { user["calibration"] = calibration }
        if keras.functional {
            // Not Teachable Machine's layout (a Sequential of a backbone and a head): a functional model.
            user["method"] = bundle.members[0].trainingMethod
            user["ensemble"] = bundle.members.count
            user["layout"] = "one functional Keras model: the members' probabilities averaged (Average layer)"
        }
        let metadata: [String: Any] = [
            "tfjsVersion": "1.1.2", "tmVersion": "1.1.0", "tmSupportVersion": "0.2.0",
            "timeStamp": ISO8601DateFormatter().string(from: Date()),
            "userMetadata": user,
            "modelName": "lightbox", "labels": bundle.classes, "imageSize": bundle.preprocessing.size,
        ]
        let modelJSON = try JSONSerialization.data(withJSONObject: model, options: [.sortedKeys, .withoutEscapingSlashes])
        let metadataJSON = try JSONSerialization.data(withJSONObject: metadata, options: [.sortedKeys, .withoutEscapingSlashes])
        let bin = keras.writer.bytes
        try AtomicDirectory.write(to: directory) { temporary in
            try modelJSON.write(to: URL(fileURLWithPath: temporary).appendingPathComponent("model.json"))
            try bin.write(to: URL(fileURLWithPath: temporary).appendingPathComponent("weights.bin"))
            try metadataJSON.write(to: URL(fileURLWithPath: temporary).appendingPathComponent("metadata.json"))
        }
    }
}

