import Foundation
import LightboxCore
import LightboxData
import LightboxHead
import LightboxImaging
import LightboxInterop
import LightboxModels

/// `lightbox train --method finetune`: after the data is loaded and deduplicated (as for the
/// head method), pictures that do not decode are set aside, the patients are divided (one split
/// or the cross-fitting folds), the members are fine-tuned (FineTuneTraining), and
/// `TrainingRun.writeRun` writes the run directory as for every method.
enum FineTuneRun {
    static func run(_ config: TrainingConfiguration, dataset loaded: Dataset, digests: [String: Result<String, ImageDecodingError>],
                    reporter: Reporter, started: Date,
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
        let design = try TrainingRun.divideByPatient(dataset, config: config, reporter: reporter)
        timings.lap("prepare")
        try checkpoint()
        let plan: FineTunePlan
        switch design {
        case .split(let split): plan = FineTunePlan(split: split, members: config.members, seed: config.training.seed)
        case .crossFit(let crossFit): plan = FineTunePlan(crossFit: crossFit, perFold: config.membersPerFold, seed: config.training.seed)
        }
        let trained = try FineTuneTraining.train(plan, classes: dataset.classes, config: config, reporter: reporter,
                                                 distributor: distributor, digests: digests, checkpoint: checkpoint)
        timings.lap("train")
        try checkpoint()
        let scored = try scoredProbabilities(design: design, trained: trained, perFold: config.membersPerFold)
        let options = config.fineTune, members = config.members
        var facts = ["data": dataset.source, "method": "finetune", "ensemble": "\(members)",
                     "unfreeze": "\(options.unfreeze)", "epochs_run": "\(config.training.epochs)",
                     "seed": "\(config.training.seed)"]
        if design.folds > 1 { facts["folds"] = "\(design.folds)" }
        let run = TrainedRun(model: trained.model, history: trained.history, keptEpoch: config.training.epochs,
                             scoredProbabilities: scored.scored, validationProbabilities: trained.validationProbabilities,
                             heldOutProbabilities: scored.heldOut, foldMembers: scored.foldMembers,
                             validation: trained.validation, trainImages: plan.members[0].rows.count,
                             backbone: ModelBundle.Backbone(id: BackboneKind.pretrainedMobileNetV2.id,
                                                            weightsSHA256: PretrainedMobileNetV2.installedDigest(in: PretrainedMobileNetV2.folder(in: config.settings)) ?? ""),
                             facts: facts,
                             title: design.folds > 1 ? "Lightbox training run (fine-tuned, cross-fitted)" : "Lightbox training run (fine-tuned)",
                             ensemble: members, unfreeze: options.unfreeze)
        return try TrainingRun.writeRun(config: config, dataset: dataset, design: design, trained: run, digests: digests, reporter: reporter,
                                        started: started, timings: timings)
    }

    /// The scored pictures' probabilities: one split's test pictures by the whole ensemble; or
    /// each fold's pictures by that fold's members (the plan orders members fold by fold) and
    /// the held-out test set by all of them.
    static func scoredProbabilities(design: RunDesign, trained: FineTuneTraining.Result, perFold: Int) throws
        -> (scored: [Float], heldOut: [Float], foldMembers: [Range<Int>]) {
        let model = trained.model, maps = trained.scoredFrozen
        let perPicture = maps.count / max(1, design.scored.count + design.heldOutTest.count)
        guard case .crossFit(let crossFit) = design else {
            return (try model.probabilities(frozenFeatureMaps: maps, batch: design.scored.count), [], [])
        }
        var scored: [Float] = [], start = 0
        let foldMembers = crossFit.folds.indices.map { ($0 * perFold)..<(($0 + 1) * perFold) }
        for (k, fold) in crossFit.folds.enumerated() {
            let slice = Array(maps[(start * perPicture)..<((start + fold.count) * perPicture)])
            scored += try model.keeping(members: foldMembers[k]).probabilities(frozenFeatureMaps: slice, batch: fold.count)
            start += fold.count
        }
        let heldOut = crossFit.test.isEmpty ? []
            : try model.probabilities(frozenFeatureMaps: Array(maps[(start * perPicture)...]), batch: crossFit.test.count)
        return (scored, heldOut, foldMembers)
    }
}
