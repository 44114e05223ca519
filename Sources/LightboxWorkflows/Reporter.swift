import LightboxHead

/// Where a long workflow tells a person what it is doing (the CLI prints; the studio streams),
/// and where it learns that the person no longer wants it.
public protocol Reporter: Sendable {
    /// A line of information.
    func note(_ line: String)
    /// Progress of a named stage.
    func progress(_ stage: String, done: Int, total: Int)
    /// One training epoch finished.
    func epoch(_ record: EpochRecord, of total: Int)
    /// Asked between stages, before each embedding batch and after each epoch: once true, the
    /// run stops with `TrainingCancelled` and writes nothing more. Must be safe to read from
    /// any thread.
    var isCancelled: Bool { get }
}

extension Reporter {
    /// Never cancelled, unless a reporter says otherwise.
    public var isCancelled: Bool { false }
}

/// A run stopped because its reporter said it was cancelled; its run directory was not written.
public struct TrainingCancelled: Error, CustomStringConvertible, Sendable {
    public init() {}
    public var description: String { "training run cancelled" }
}

/// Says nothing: for tests and library callers.
public struct SilentReporter: Reporter {
    public init() {}
    public func note(_ line: String) {}
    public func progress(_ stage: String, done: Int, total: Int) {}
    public func epoch(_ record: EpochRecord, of total: Int) {}
}
