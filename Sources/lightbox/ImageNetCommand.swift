import LightboxCore
import ArgumentParser
import Foundation
import LightboxImaging
import LightboxKernels
import LightboxModels

struct ImageNetCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "imagenet",
        abstract: "Show the pretrained backbone's top ImageNet classes for images (a check that the weights work).")

    @Option(help: "How many classes to show per image.")
    var top = 5

    @Argument(help: "Image files (PNG, JPEG).")
    var images: [String]

    func run() throws {
        try Terminal.run {
            let embedder = try ImageEmbedder.pretrained(policy: .crop, settings: Lightbox.settings, dicomWindow: .first)
            for path in images {
                let pass = try embedder.forward([path], outputs: .imageNetLogits)
                if let failure = pass.failures.first { throw failure }
                let probabilities = Softmax.apply(pass.output!.logits!)
                let ranked = probabilities.indices.sorted { probabilities[$0] > probabilities[$1] }.prefix(top)
                print(path)
                for i in ranked {
                    print(String(format: "  class %4d  %.4f", i, probabilities[i]))
                }
            }
        }
    }
}
