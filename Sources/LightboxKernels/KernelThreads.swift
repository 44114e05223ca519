import Foundation
import LightboxCore

/// How many threads the native kernels (oneDNN's primitives and sgemm, on its OpenMP pool) use.
/// The count always comes from the caller (the run's `LightboxSettings.threads`, or 1 inside a
/// parallel worker); nothing here is process-wide but OpenMP's own per-thread setting. oneDNN is
/// built against libgomp, already loaded with it, so the OpenMP functions are found at run time
/// rather than linked (Debian ships no libgomp.so link).
public enum KernelThreads {
    /// Sets how many OpenMP threads oneDNN primitives started from the calling thread use
    /// (an OpenMP setting is per thread).
    public static func setForCurrentThread(_ count: Int) {
        if let setter = ompSetNumThreads { setter(Int32(max(1, count))) }
    }

    /// How many OpenMP threads primitives started from the calling thread use (1 without OpenMP).
    public static var forCurrentThread: Int { ompGetMaxThreads.map { Int($0()) } ?? 1 }

    private typealias Setter = @convention(c) (Int32) -> Void
    private typealias Getter = @convention(c) () -> Int32
    private static let ompSetNumThreads: Setter? = dlsym(dlopen(nil, RTLD_NOW), "omp_set_num_threads")
        .map { unsafeBitCast($0, to: Setter.self) }
    private static let ompGetMaxThreads: Getter? = dlsym(dlopen(nil, RTLD_NOW), "omp_get_max_threads")
        .map { unsafeBitCast($0, to: Getter.self) }

    /// The machine's processor count.
    public static var available: Int { ProcessInfo.processInfo.activeProcessorCount }
}
