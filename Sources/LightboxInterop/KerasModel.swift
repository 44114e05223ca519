import Foundation
import LightboxCore
import LightboxHead
import LightboxImaging
import LightboxModels

/// A model as Keras describes it, the way Teachable Machine's exports lay it out: a Sequential
/// of two Sequentials, the backbone (a functional MobileNetV2 and global average pooling) and
/// the head (Dense layers), with every weight under Keras's names; a fine-tuned model or an
/// ensemble as one functional model. The TF.js and Keras (`.h5`) exports both write this.
struct KerasModel {
    var writer = KerasWriter()
    var modelName = "mobilenetv2_1.00_224"
    /// What the model's user must do before it (ModelBundle.stepsOutsideExport).
    var stepsOutsideExport: String?
    /// The operating point and the calibration as JSON text (ModelBundle's), for the `.h5`'s attributes.
    var operatingPointJSON: String?
    var calibrationJSON: String?
    /// A fine-tuned ensemble: one functional model (`writer.layers`), not Teachable Machine's
    /// Sequential of a backbone and a head.
    var functional = false

    init(_ bundle: ModelBundle, weightsFolder: String) throws {
        stepsOutsideExport = bundle.stepsOutsideExport
        let encoder = JSONEncoder()
        encoder.outputFormatting = .sortedKeys
        operatingPointJSON = try bundle.operatingPoint.map { String(decoding: try encoder.encode($0), as: UTF8.self) }
        calibrationJSON = try bundle.calibrationMetadataJSON(inGraph: false)
        guard bundle.preprocessing.resize == .crop else {
            throw WeightsError("this export needs a model trained with --resize crop: Teachable Machine centre-crops its input")
        }
        if bundle.members.count == 1, let only = bundle.members[0] as? DenseHeadMember {
            // Teachable Machine's own layout: a backbone Sequential and a head Sequential.
            if let name = try writer.backbone(of: bundle, weightsFolder: weightsFolder) { modelName = name }
            writer.head(only.dense)
            return
        }
        // One functional model: the frozen part once, then per member its own modules, pooling
        // and head, the members' probabilities averaged.
        try writer.buildEnsemble(bundle, weightsFolder: weightsFolder)
        functional = true
        modelName = "lightbox_\(bundle.members[0].trainingMethod)_ensemble"
    }

    /// The backbone Sequential's layers: the functional MobileNetV2, then pooling. `flat`
    /// names the functional model's single input and output as Keras does for one tensor
    /// (`["out_relu", 0, 0]`); TF.js keeps them nested as tfjs-layers writes them.
    func backboneLayers(flat: Bool) -> [[String: Any]] {
        let inputNode: [Any] = [writer.inputName, 0, 0], outputNode: [Any] = [writer.outputName, 0, 0]
        let input: Any, output: Any
        if flat {
            (input, output) = (inputNode, outputNode)
        } else {
            (input, output) = ([inputNode] as [Any], [outputNode] as [Any])
        }
        return [["class_name": "Model", "config": ["name": modelName, "layers": writer.layers,
                                                   "input_layers": input, "output_layers": output]],
                ["class_name": "GlobalAveragePooling2D",
                 "config": ["data_format": "channels_last", "name": "global_average_pooling2d_GlobalAveragePooling2D1",
                            "trainable": true]]]
    }

    /// The topology: for TF.js as tfjs-layers writes it; for `.h5` as Keras 2 writes it, with
    /// named Sequentials (the file's weight groups carry the same names) that each begin with
    /// an InputLayer, without which Keras 3 cannot rebuild nested Sequentials.
    func topology(tfjs: Bool) -> [String: Any] {
        if functional {
            let config: [String: Any] = ["name": modelName, "layers": writer.layers, "input_layers": [[writer.inputName, 0, 0]],
                                         "output_layers": [[writer.outputName, 0, 0]]]
            return tfjs ? ["class_name": "Model", "config": config, "keras_version": "tfjs-layers 1.1.2", "backend": "tensor_flow.js"]
                : ["class_name": "Functional", "config": config]
        }
        if tfjs {
            return ["class_name": "Sequential",
                    "config": [["class_name": "Sequential", "config": backboneLayers(flat: false)],
                               ["class_name": "Sequential", "config": writer.dense]],
                    "keras_version": "tfjs-layers 1.1.2", "backend": "tensor_flow.js"]
        }
        func input(_ name: String, _ shape: [Any]) -> [String: Any] {
            ["class_name": "InputLayer", "config": ["batch_input_shape": [NSNull()] + shape, "dtype": "float32",
                                                    "sparse": false, "ragged": false, "name": name]]
        }
        let size = (writer.layers.first?["config"] as? [String: Any])?["batch_input_shape"] as? [Any] ?? [NSNull(), 224, 224, 3]
        let features = ((writer.dense.first?["config"] as? [String: Any])?["batch_input_shape"] as? [Any])?.last ?? 1280
        return ["class_name": "Sequential",
                "config": ["name": "sequential", "layers": [
                    ["class_name": "Sequential", "config": ["name": Self.backboneGroup,
                                                            "layers": [input("sequential_1_input", Array(size.dropFirst()))] + backboneLayers(flat: true)]],
                    ["class_name": "Sequential", "config": ["name": Self.headGroup,
                                                            "layers": [input("sequential_3_input", [features])] + writer.dense]],
                ]]]
    }

    static let backboneGroup = "sequential_1", headGroup = "sequential_3"
}
