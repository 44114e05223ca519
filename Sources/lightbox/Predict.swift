import ArgumentParser
import Foundation
import LightboxCore
import LightboxImaging
import LightboxKernels
import LightboxModels
import LightboxTraining

struct Predict: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Classify images with a trained model; optionally write heatmaps of where it looked.",
        discussion: "Educational and research software: a probability here is not a diagnosis. Exit code 1 if any image could not be read.")

    @Option(help: "The model: a Lightbox bundle (a run's model/ folder) or a Teachable Machine TF.js export (folder or .zip).")
    var model: String

    @Flag(help: "Print JSON instead of text.")
    var json = false

    @Option(help: "Write IMAGE_NAME.heatmap.png (Grad-CAM of the predicted class over the model's input) into this folder.")
    var heatmap: String?

    @Argument(help: "Image files (PNG, JPEG).")
    var images: [String]

    func run() throws {
        let (predictor, results) = try Terminal.run { () -> (Predictor, [Result<Predictor.Prediction, ImageDecodingError>]) in
            KernelThreads.set(KernelThreads.available)
            let predictor = try Predictor(model: model)
            return (predictor, try predictor.predict(images))
        }
        let classes = predictor.classes
        var failed = 0
        var records: [[String: Any]] = []
        for result in results {
            switch result {
            case .failure(let error):
                failed += 1
                Terminal.note("error: \(error)")
            case .success(let p):
                var record: [String: Any] = ["path": p.path, "predicted": classes[p.predicted],
                                             "probabilities": Dictionary(uniqueKeysWithValues: zip(classes, p.probabilities.map(Double.init)))]
                if let heatmap {
                    do {
                        let name = ((p.path as NSString).lastPathComponent as NSString).deletingPathExtension + ".heatmap.png"
                        let file = (heatmap as NSString).appendingPathComponent(name)
                        try AtomicFile.write(try predictor.heatmap(p.path, target: p.predicted), to: file)
                        record["heatmap"] = file
                    } catch {
                        failed += 1
                        Terminal.note("error: \(p.path): heatmap not written (\(error))")
                    }
                }
                records.append(record)
                if !json {
                    let ranked = p.probabilities.indices.sorted { p.probabilities[$0] > p.probabilities[$1] }
                    let text = ranked.map { String(format: "%@ %.3f", classes[$0], p.probabilities[$0]) }.joined(separator: ", ")
                    print("\(p.path): \(classes[p.predicted])  (\(text))")
                }
            }
        }
        if json {
            let data = try JSONSerialization.data(withJSONObject: ["model": model, "predictions": records,
                                                                   "disclaimer": ModelBundle.disclaimer],
                                                  options: [.prettyPrinted, .sortedKeys, .withoutEscapingSlashes])
            print(String(decoding: data, as: UTF8.self))
        }
        if failed > 0 { throw ExitCode.failure }
    }
}
