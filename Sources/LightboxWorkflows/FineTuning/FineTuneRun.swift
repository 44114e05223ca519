import Foundation
import LightboxCore
import LightboxData
import LightboxHead
import LightboxImaging
import LightboxInterop
import LightboxModels

/// `lightbox train --method finetune`: after the data is loaded and deduplicated (as for the
/// head method), pictures that do not decode are set aside, the split is made by patient, an
/// ensemble is fine-tuned (FineTuneTraining), and `TrainingRun.writeRun` writes the run
/// directory as for every method.
enum FineTuneRun {
    static func run(_ config: TrainingConfiguration, dataset loaded: Dataset, reporter: Reporter, started: Date,
                    timings: StageTimings, distributor: PictureWorkDistributor?, checkpoint: () throws -> Void) throws -> TrainingSummary {
        let unreadable = Dictionary(DatasetInspection.undecodable(loaded.images.map(\.path),
                                                                  decoder: ImageDecoder(maxPixels: config.settings.maxPixels,
                                                                                        dicomWindow: config.dicomWindow),
                                                                  threads: config.settings.threads).map { ($0.path, "\($0.reason)") },
                                    uniquingKeysWith: { a, _ in a })
        let dataset = loaded.removing { image in unreadable[image.path].map { "unreadable image: \($0)" } }
        guard dataset.classes.count >= 2 else {
            throw DatasetError("\(config.data): need at least two classes with usable images, found \(dataset.classes)")
        }
        let split = try TrainingRun.splitByPatient(dataset, config: config, reporter: reporter)
        timings.lap("prepare")
        try checkpoint()
        let trained = try FineTuneTraining.train(split, classes: dataset.classes, config: config, reporter: reporter,
                                                 distributor: distributor, checkpoint: checkpoint)
        timings.lap("train")
        try checkpoint()
        let options = config.fineTune, members = config.members
        let run = TrainedRun(model: trained.model, history: trained.history, keptEpoch: config.training.epochs,
                             validationProbabilities: trained.validationProbabilities, testProbabilities: trained.testProbabilities,
                             validation: trained.validation, trainImages: split.train.count,
                             backbone: ModelBundle.Backbone(id: BackboneKind.pretrainedMobileNetV2.id,
                                                            weightsSHA256: PretrainedMobileNetV2.installedDigest(in: PretrainedMobileNetV2.folder(in: config.settings)) ?? ""),
                             facts: ["data": dataset.source, "method": "finetune", "ensemble": "\(members)",
                                     "unfreeze": "\(options.unfreeze)", "epochs_run": "\(config.training.epochs)",
                                     "seed": "\(config.training.seed)"],
                             title: "Lightbox training run (fine-tuned)", ensemble: members, unfreeze: options.unfreeze)
        return try TrainingRun.writeRun(config: config, dataset: dataset, split: split, trained: run, reporter: reporter,
                                        started: started, timings: timings)
    }
}
