/// Where a long workflow tells a person what it is doing (the CLI prints; the studio streams).
public protocol Reporter: Sendable {
    /// A line of information.
    func note(_ line: String)
    /// Progress of a named stage.
    func progress(_ stage: String, done: Int, total: Int)
    /// One training epoch finished.
    func epoch(_ record: EpochRecord, of total: Int)
}

/// Says nothing: for tests and library callers.
public struct SilentReporter: Reporter {
    public init() {}
    public func note(_ line: String) {}
    public func progress(_ stage: String, done: Int, total: Int) {}
    public func epoch(_ record: EpochRecord, of total: Int) {}
}
