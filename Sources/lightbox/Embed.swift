import ArgumentParser
import Foundation
import LightboxCore
import LightboxImaging
import LightboxKernels
import LightboxModels

struct Embed: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Turn images into 1280-value MobileNetV2 embeddings (a float32 .npy and a list of paths).",
        discussion: """
            Writes FILE.npy of shape [N, 1280] in the order of the inputs (directories expanded \
            recursively, sorted) and FILE.npy.txt listing the embedded paths, one per line. \
            Files that cannot be decoded are reported on stderr and left out of both; the exit \
            code is non-zero if none could be embedded, or with --strict if any could not.
            """)

    @Option(help: "Output .npy file.")
    var out: String

    @Option(help: "How a picture becomes square: crop (centre square), pad (keep the whole picture, pad with black), stretch.")
    var resize: ResizePolicyOption = .crop

    @Option(help: "Images per forward pass.")
    var batch = 16

    @Option(help: "Kernel threads (default: all cores).")
    var threads: Int?

    @Flag(help: "Fail (and write nothing) if any input cannot be decoded.")
    var strict = false

    @Argument(help: "Image files (PNG, JPEG, DICOM) or directories of them.")
    var inputs: [String]

    func validate() throws {
        guard batch >= 1 else { throw Terminal.Failure("--batch must be at least 1") }
        if let threads, threads < 1 { throw Terminal.Failure("--threads must be at least 1") }
    }

    @OptionGroup var dicom: DICOMOptions

    func run() throws {
        dicom.install()
        try Terminal.run {
            if let threads { KernelThreads.set(threads) }
            let paths = try ImageFiles.expand(inputs)
            guard !paths.isEmpty else { throw Terminal.Failure("no PNG, JPEG or DICOM files found in \(inputs.joined(separator: " "))") }
            let embedder = try ImageEmbedder.pretrained(policy: ResizePolicy(rawValue: resize.rawValue)!)
            let progress = Terminal.Progress("embedding")
            let result = try embedder.embed(paths: paths, batchSize: batch, progress: progress.update)
            for failure in result.failures { Terminal.note("skipped \(failure)") }
            if result.paths.isEmpty || (strict && !result.failures.isEmpty) {
                throw Terminal.Failure("\(result.failures.count) of \(paths.count) images could not be decoded; nothing written")
            }
            try AtomicFile.write(NPYFile.encode(result.embeddings, shape: [result.paths.count, result.channels]), to: out)
            try AtomicFile.write(Data((result.paths.joined(separator: "\n") + "\n").utf8), to: out + ".txt")
            Terminal.note("wrote \(out) [\(result.paths.count), \(result.channels)]"
                          + (result.failures.isEmpty ? "" : "; skipped \(result.failures.count)"))
        }
    }
}
