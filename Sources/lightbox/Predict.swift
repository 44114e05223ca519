import ArgumentParser
import Foundation
import LightboxCore
import LightboxData
import LightboxImaging
import LightboxKernels
import LightboxModels
import LightboxWorkflows
import LightboxInterop
import LightboxHead

struct Predict: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Classify images with a trained model; optionally write heatmaps of where it looked.",
        discussion: "Educational and research software: a probability here is not a diagnosis. Exit code 1 if any image could not be read.")

    @Option(help: "The model: a Lightbox bundle (a run's model/ folder, or a zip of it such as the Studio's download) or a Teachable Machine TF.js export (folder or .zip).")
    var model: String

    @Flag(help: "Print JSON instead of text.")
    var json = false

    @Option(help: "Write IMAGE_NAME.heatmap.png (Grad-CAM of the predicted class over the model's input) into this folder; pictures that share a name (IM000000 in two series) get IMAGE_NAME-DIGEST.heatmap.png, DIGEST from the picture's path.")
    var heatmap: String?

    @Argument(help: "Image files (PNG, JPEG, DICOM), or directories of them (searched recursively, in sorted order).")
    var inputs: [String]

    @OptionGroup var dicom: DICOMOptions

    @OptionGroup var identification: IdentificationOptions

    @OptionGroup var precisionOption: PrecisionOption

    @OptionGroup(title: "Shards and clusters")
    var executorOptions: ExecutorOptions

    func validate() throws {
        try executorOptions.validateForCommand()
        if executorOptions.isSharded && heatmap != nil {
            throw ValidationError("--heatmap needs each picture's forward pass here; leave out --shards and --executor to draw heatmaps")
        }
    }

    func run() throws {
        // With --heatmap, one forward pass per image gives both the probabilities and the heatmap.
        typealias Outcome = Result<(prediction: Predictor.Prediction, heatmap: Data?), Error>
        let (images, predictor, results) = try Terminal.run { () -> ([String], Predictor, [Outcome]) in
            try executorOptions.checkBeforeWork(settings: Lightbox.settings)
            if let heatmap { try OutputPath.check(heatmap, as: .folder) }
            let images = try pictures()
            let predictor = try Predictor(model: model, settings: precisionOption.settings(Lightbox.settings), dicomWindow: dicom.window,
                                          overrideDICOMWindow: dicom.override)
            if executorOptions.isSharded { return (images, predictor, try predictOverShards(predictor, images: images)) }
            guard heatmap != nil else {
                return (images, predictor, try predictor.predict(images).map { r in r.map { ($0, nil) }.mapError { $0 as Error } })
            }
            return (images, predictor, images.map { path in Result { try predictor.predictWithHeatmap(path) }.map { ($0.0, $0.1) } })
        }
        let classes = predictor.classes
        // Every line and record names a picture as --identify-by asks (default: its path).
        let identity = identification.identifyBy ?? .path
        IdentificationOptions.installWarnings(identity)
        let names = PictureNames(identity, paths: images, digests: [:], threads: Lightbox.settings.threads)
        if let point = predictor.decision.operatingPoint, !json {
            Terminal.note(String(format: "predicted: %@ when its probability is at least %.3f (the model's operating point)",
                                 point.positiveClass, point.threshold))
        }
        if let calibration = predictor.model.calibration, !json {
            Terminal.note(String(format: "probabilities: calibrated, softmax(log(p) / %.3f) of the members' mean (the model's temperature)",
                                 calibration.temperature))
        }
        var failed = 0
        var records: [[String: Any]] = []
        // Under --identify-by uid or digest, named by the picture's identifier, not its file name.
        let heatmapNames = Self.heatmapNames(images, stems: identity == .path ? nil : images.map { names.name($0) })
        for ((path, result), heatmapName) in zip(zip(images, results), heatmapNames) {
            switch result {
            case .failure(let error):
                failed += 1
                // Decoding errors and the shards' reasons begin with the picture's path; others do not name it.
                let text = "\(error)"
                if let error = error as? ImageDecodingError {
                    Terminal.note("error: \(names.describe(error))")
                } else if text.hasPrefix(path + ":") {
                    Terminal.note("error: \(names.name(path))\(text.dropFirst(path.count))")
                } else {
                    Terminal.note("error: \(names.name(path)): \(text)")
                }
            case .success(let (p, png)):
                var record: [String: Any] = [identity.rawValue: names.name(p.path), "predicted": classes[p.predicted],
                                             "probabilities": Dictionary(uniqueKeysWithValues: zip(classes, p.probabilities.map(Double.init)))]
                if let heatmap, let png {
                    do {
                        let file = (heatmap as NSString).appendingPathComponent(heatmapName)
                        try AtomicFile.write(png, to: file)
                        record["heatmap"] = file
                    } catch {
                        failed += 1
                        Terminal.note("error: \(names.name(p.path)): heatmap not written (\(error))")
                    }
                }
                records.append(record)
                if !json {
                    let ranked = p.probabilities.indices.sorted { p.probabilities[$0] > p.probabilities[$1] }
                    let text = ranked.map { String(format: "%@ %.3f", classes[$0], p.probabilities[$0]) }.joined(separator: ", ")
                    print("\(names.name(p.path)): \(classes[p.predicted])  (\(text))")
                }
            }
        }
        if json {
            var document: [String: Any] = ["model": model, "predictions": records, "disclaimer": ModelBundle.disclaimer]
            if let point = predictor.decision.operatingPoint {
                document["operating_point"] = ["positive_class": point.positiveClass, "threshold": point.threshold]
            }
            if let calibration = predictor.model.calibration {
                // The probabilities above are already calibrated: what the exports' metadata records.
                document["calibration"] = ["method": "temperature", "temperature": calibration.temperature]
            }
            let data = try JSONSerialization.data(withJSONObject: document,
                                                  options: [.prettyPrinted, .sortedKeys, .withoutEscapingSlashes])
            print(String(decoding: data, as: UTF8.self))
        }
        precisionOption.announce(defaultFallback: false)
        if failed > 0 { throw ExitCode.failure }
    }

    /// The inputs with each directory replaced by its pictures (`PictureArguments`).
    func pictures() throws -> [String] { try PictureArguments.expand(inputs) }

    /// One heatmap file name a picture, all different, so no heatmap of this run overwrites
    /// another: NAME.heatmap.png after the picture's name without its extension; when several
    /// pictures share that name (PACS exports restart their numbering in every series),
    /// NAME-DIGEST.heatmap.png, DIGEST the first 8 hex digits of the SHA-256 of the picture's
    /// absolute path, the same from run to run; a picture given twice gets -2, -3... after that.
    /// `stems` replaces the pictures' names (their identifiers under --identify-by uid or digest).
    static func heatmapNames(_ paths: [String], stems given: [String]? = nil) -> [String] {
        let stems = given ?? paths.map { ((($0 as NSString).lastPathComponent) as NSString).deletingPathExtension }
        var counts: [String: Int] = [:]
        for stem in stems { counts[stem.lowercased(), default: 0] += 1 }
        var taken = Set<String>()
        return zip(paths, stems).map { path, stem in
            var base = stem
            if counts[stem.lowercased()]! > 1 {
                base += "-" + String(SHA256.hex(Data(ShardedEmbeddingRunner.absolute(path).utf8)).prefix(8))
            }
            var name = base + ".heatmap.png", copy = 1
            // Lower-cased: names that differ only in case are one file on some file systems.
            while taken.contains(name.lowercased()) {
                copy += 1
                name = "\(base)-\(copy).heatmap.png"
            }
            taken.insert(name.lowercased())
            return name
        }
    }

    /// The model's work per picture over shards (here or on Slurm), then, for members that read
    /// the backbone's embedding, the members on the merged embeddings: the same predictions a
    /// local run prints, in argument order.
    func predictOverShards(_ predictor: Predictor, images: [String]) throws -> [Result<(prediction: Predictor.Prediction, heatmap: Data?), Error>] {
        guard ModelBundle.isBundle(model) else {
            throw Terminal.Failure("\(model): only a Lightbox model bundle is predicted over shards (a Teachable Machine export is not); leave out --shards and --executor")
        }
        // The predictor's model, already read and built, does the shards' work (here, or rebuilt by each Slurm task).
        let description = "lightbox predict of \(images.count) images with \(model)"
        let pass = predictor.model.cachedPass(baseWeightsSHA256: predictor.baseWeightsSHA256 ?? "")
        var runner = ShardedEmbeddingRunner(options: executorOptions, settings: Lightbox.settings, model: model, trained: predictor.model,
                                            pass: pass, folder: "", description: description)
        // No output file to put the shards' folder beside: it goes into the (shared) cache, named
        // by the job (the list, the model's work and preprocessing), so two models never share one.
        runner.folder = (runner.cacheDirectory as NSString)
            .appendingPathComponent("jobs/predict-\(try runner.sharding(images).job.prefix(16)).shards")
        if json { runner.announce = Terminal.note }  // standard output holds the JSON alone
        let merged = try runner.runAll(images)
        let predictions = predictor.predictions(probabilities: try pass.probabilities(merged.embeddings, count: merged.paths.count),
                                                paths: merged.paths)
        var byPath: [String: Predictor.Prediction] = [:]
        for p in predictions { byPath[p.path] = p }
        // The shards name each left-out file in its reason ("PATH: problem").
        return images.map { path in
            if let p = byPath[path] { return .success((p, nil)) }
            let reason = merged.failures.first { $0.hasPrefix(path + ":") } ?? "\(path): not processed"
            return .failure(Terminal.Failure(reason))
        }
    }
}
