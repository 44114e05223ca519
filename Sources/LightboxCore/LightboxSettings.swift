import Foundation

/// The run context: what a Lightbox run is configured with (where its cache lives, how large an
/// image it accepts, where the public data set downloads from, how many threads its kernels use).
///
/// Libraries never read the environment and keep no process-wide copy of this: an executable
/// builds it once (from its environment and options, `init(environment:)`; the Studio from its
/// own configuration) and passes it, or the values in it, down to every workflow and library
/// function that needs them. Tests pass their own.
public struct LightboxSettings: Sendable, Equatable {
    /// The cache folder (weights, embeddings, downloaded data, the Studio's projects).
    public var home: String
    /// Images with more pixels than this are refused from their header.
    public var maxPixels: Int
    /// Where `PublicDataset` downloads the covid-chestxray-dataset archive from.
    public var dataURL: String
    /// Threads for native kernels and parallel loops.
    public var threads: Int
    /// What networks compute their products in (`--precision`; chosen by
    /// `PrecisionChoice.choose` in LightboxKernels, which knows the CPU). fp32 unless set.
    public var arithmetic: Arithmetic = .fp32

    /// The most threads a run may use: four times this machine's cores. More only adds
    /// contention, and counts in the tens of thousands crash the native thread pools.
    public static var maximumThreads: Int { ProcessInfo.processInfo.activeProcessorCount * 4 }

    /// Whether `count` is a thread count a run may be given (1...`maximumThreads`).
    public static func isValidThreadCount(_ count: Int) -> Bool { (1...maximumThreads).contains(count) }

    public static let defaultMaxPixels = 100_000_000
    public static let defaultDataURL = "https://github.com/ieee8023/covid-chestxray-dataset/archive/refs/heads/master.zip"

    public init(home: String, maxPixels: Int = defaultMaxPixels, dataURL: String = defaultDataURL,
                threads: Int = ProcessInfo.processInfo.activeProcessorCount) {
        self.home = home
        self.maxPixels = max(1, maxPixels)
        self.dataURL = dataURL
        self.threads = min(max(1, threads), Self.maximumThreads)
    }

    /// The settings an environment gives: `LIGHTBOX_HOME` (else `$HOME/.cache/lightbox`),
    /// `LIGHTBOX_MAX_PIXELS`, `LIGHTBOX_DATA_URL`. Empty or unparsable values mean the default.
    public init(environment: [String: String]) {
        let userHome = environment["HOME"].flatMap { $0.isEmpty ? nil : $0 } ?? NSHomeDirectory()
        let home = environment["LIGHTBOX_HOME"].flatMap { $0.isEmpty ? nil : $0 }
            ?? (userHome as NSString).appendingPathComponent(".cache/lightbox")
        self.init(home: home,
                  maxPixels: environment["LIGHTBOX_MAX_PIXELS"].flatMap { Int($0) } ?? Self.defaultMaxPixels,
                  dataURL: environment["LIGHTBOX_DATA_URL"].flatMap { $0.isEmpty ? nil : $0 } ?? Self.defaultDataURL)
    }

    /// A folder inside the cache.
    public func folder(_ name: String) -> String { (home as NSString).appendingPathComponent(name) }

    /// The same settings with another thread count (kept within 1...`maximumThreads`; the
    /// command line refuses others first): `embed --threads`.
    public func with(threads: Int) -> LightboxSettings {
        var copy = self
        copy.threads = min(max(1, threads), Self.maximumThreads)
        return copy
    }

    /// The same settings computing in `arithmetic`.
    public func with(arithmetic: Arithmetic) -> LightboxSettings {
        var copy = self
        copy.arithmetic = arithmetic
        return copy
    }
}

/// How a grey DICOM picture's values are brought onto 0...255 (the VOI step).
public enum DICOMWindow: String, Sendable, CaseIterable, Codable {
    /// What the file says: its VOI LUT sequence, else its first window centre/width, else
    /// min-max of the picture.
    case first
    /// Min-max of the picture (after the modality LUT), whatever the file says.
    case minmax
}
