import COpenBLAS
import Foundation

/// How many threads the native kernels (oneDNN's OpenMP pool and OpenBLAS) use.
public enum KernelThreads {
    /// Sets both pools. oneDNN is built against libgomp, already loaded with it,
    /// so its setter is found at run time rather than linked (Debian ships no libgomp.so link).
    public static func set(_ count: Int) {
        let n = Int32(max(1, count))
        openblas_set_num_threads(n)
        typealias Setter = @convention(c) (Int32) -> Void
        if let symbol = dlsym(dlopen(nil, RTLD_NOW), "omp_set_num_threads") {
            unsafeBitCast(symbol, to: Setter.self)(n)
        }
    }

    /// The machine's processor count.
    public static var available: Int { ProcessInfo.processInfo.activeProcessorCount }
}
