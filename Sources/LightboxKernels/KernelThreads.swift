import COpenBLAS
import Foundation
import LightboxCore

/// How many threads the native kernels (oneDNN's OpenMP pool and OpenBLAS) use.
public enum KernelThreads {
    /// Sets both pools, and the settings' thread count (what every parallel region uses).
    /// oneDNN is built against libgomp, already loaded with it, so its setter is found at run
    /// time rather than linked (Debian ships no libgomp.so link).
    public static func set(_ count: Int) {
        let count = max(1, count)
        var settings = LightboxSettings.current
        settings.threads = count
        LightboxSettings.install(settings)
        openblas_set_num_threads(Int32(count))
        setForCurrentThread(count)
    }

    /// The settings' thread count: what networks split a batch over and parallel loops use.
    public static var configured: Int { LightboxSettings.current.threads }

    /// Sets OpenBLAS's thread count alone.
    public static func setBLAS(_ count: Int) {
        openblas_set_num_threads(Int32(max(1, count)))
    }

    /// OpenBLAS's current thread count.
    public static var blas: Int { Int(openblas_get_num_threads()) }

    /// Sets how many OpenMP threads oneDNN primitives started from the calling thread use
    /// (an OpenMP setting is per thread).
    public static func setForCurrentThread(_ count: Int) {
        if let setter = ompSetNumThreads { setter(Int32(max(1, count))) }
    }

    private typealias Setter = @convention(c) (Int32) -> Void
    private static let ompSetNumThreads: Setter? = dlsym(dlopen(nil, RTLD_NOW), "omp_set_num_threads")
        .map { unsafeBitCast($0, to: Setter.self) }

    /// The machine's processor count.
    public static var available: Int { ProcessInfo.processInfo.activeProcessorCount }
}
