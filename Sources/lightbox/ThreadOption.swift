import ArgumentParser
import LightboxCore

/// The one check of a thread count given on the command line (`embed --threads`, a fold task's
/// `--threads`): 1 to `LightboxSettings.maximumThreads`, else a usage error before any work.
enum ThreadOption {
    static func validate(_ threads: Int?) throws {
        guard let threads, !LightboxSettings.isValidThreadCount(threads) else { return }
        throw ValidationError("--threads must be from 1 to \(LightboxSettings.maximumThreads) (4 times this machine's cores), not \(threads)")
    }
}
