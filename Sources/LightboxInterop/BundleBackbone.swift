import Foundation
import LightboxCore
import LightboxModels

extension ModelBundle.Backbone {
    /// The record a bundle keeps of `backbone`.
    public init(_ backbone: LightboxModels.Backbone) {
        self.init(id: backbone.kind.id, weightsSHA256: backbone.weightsSHA256)
    }
}

extension ModelBundle {
    /// The kind of backbone the bundle was trained on; refuses one this Lightbox does not have.
    public func backboneKind() throws -> BackboneKind {
        guard let kind = BackboneKind(id: backbone.id) else {
            throw WeightsError("the model was trained on backbone '\(backbone.id)', which this Lightbox does not have")
        }
        return kind
    }

    /// The folder of a Teachable Machine backbone's files inside the bundle (refused when a link
    /// takes it outside the bundle: its files are then read inside it, `ContainedFile`).
    public func backboneFilesPath() throws -> String {
        guard let directory else { throw WeightsError("the model's backbone files are not on disk") }
        let path = (directory as NSString).appendingPathComponent(Self.backboneFolder)
        if let real = ContainedFile.realPath(path), let root = ContainedFile.realPath(directory),
           real == root || !ContainedFile.isInside(real, roots: [root]) {
            throw WeightsError("\(path): leads outside the model folder")
        }
        return path
    }

    /// The Teachable Machine model the bundle carries as its backbone, checked against the digest it was trained with.
    public func teachableMachineBackbone() throws -> TFJSLayersModel {
        let path = try backboneFilesPath()
        let model = try TFJSLayersModel.load(path)
        try refuseOtherWeights(actual: model.weightsDigest, exportPath: path)
        return model
    }

    /// The pretrained weights installed in `folder`, checked against the digest the bundle was trained with.
    public func pretrainedWeights(from folder: String) throws -> NamedTensors {
        try refuseOtherWeights(actual: PretrainedMobileNetV2.installedDigest(in: folder) ?? "", exportPath: nil)
        return try PretrainedMobileNetV2.load(from: folder)
    }

    /// The backbone the bundle was trained on, ready to run with the run's `settings` (weights
    /// folder, pixel limit, threads); refuses different weights.
    public func resolvedBackbone(settings: LightboxSettings) throws -> LightboxModels.Backbone {
        let preprocessor = try preprocessing.preprocessor()
        let decoder = preprocessing.decoder(maxPixels: settings.maxPixels)
        switch try backboneKind() {
        case .teachableMachine:
            return try LightboxModels.Backbone.teachableMachine(try teachableMachineBackbone(), policy: preprocessor.policy,
                                                                equalization: preprocessor.equalization, decoder: decoder,
                                                                parallelism: settings.threads, arithmetic: settings.arithmetic)
        case .pretrainedMobileNetV2:
            try requireInputSize(MobileNetV2Architecture.standard.inputSize)
            let folder = PretrainedMobileNetV2.folder(in: settings)
            return try LightboxModels.Backbone.pretrained(preprocessor, weightsFolder: folder, weights: try pretrainedWeights(from: folder),
                                                          decoder: decoder, parallelism: settings.threads,
                                                          arithmetic: settings.arithmetic)
        }
    }

    /// Refuses a manifest whose preprocessing size is not the network's input size (an edited
    /// or damaged manifest would otherwise reach the network with the wrong tensor).
    public func requireInputSize(_ size: Int) throws {
        guard preprocessing.size == size else {
            throw WeightsError("\(directory ?? "model"): preprocessing size \(preprocessing.size) is not the network's input size \(size)")
        }
    }

    /// Refuses weights (SHA-256 `actual`) other than those the bundle was trained on; `exportPath`
    /// names a Teachable Machine backbone's files, nil the installed pretrained weights.
    func refuseOtherWeights(actual: String, exportPath: String?) throws {
        guard actual == backbone.weightsSHA256 else {
            if let exportPath {
                throw WeightsError("\(exportPath): backbone weights differ from the ones the model was trained on (checksum mismatch)")
            }
            throw WeightsError("the model's backbone weights (SHA-256 \(backbone.weightsSHA256.prefix(12))…) differ from the installed ones (\(actual.prefix(12))…): run `lightbox setup --force`")
        }
    }
}

extension ModelBundle {
    /// MobileNetV2's table, the network whose modules fine-tuned members train; refuses a
    /// manifest whose input size is not the table's.
    public func architecture() throws -> MobileNetV2Architecture {
        let architecture = MobileNetV2Architecture.standard
        try requireInputSize(architecture.inputSize)
        return architecture
    }

    /// The frozen part the members share, as a layer graph (no oneDNN network built): the whole
    /// backbone (MobileNetV2 from its table and folded weights, or a Teachable Machine backbone
    /// from its topology), or MobileNetV2 through the module before the members' own; either way
    /// on the weights the bundle was trained on (checked by digest).
    public func frozenGraph(weightsFolder: String) throws -> LayerGraph {
        switch cut {
        case .wholeBackbone:
            if try backboneKind() == .teachableMachine { return try teachableMachineBackbone().backboneGraph() }
            return try architecture().layerGraph(weights: try pretrainedWeights(from: weightsFolder))
        case .mobileNetV2(let last):
            return try architecture().layerGraph(weights: try pretrainedWeights(from: weightsFolder), throughModule: last)
        }
    }
}
