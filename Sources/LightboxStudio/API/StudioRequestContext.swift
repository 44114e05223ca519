import Hummingbird
import NIOCore

/// Hummingbird's basic request context plus the request's channel, so that work can be dropped
/// when the client has gone (`ClientConnectionWatch`).
public struct StudioRequestContext: RequestContext {
    public var coreContext: CoreRequestContextStorage
    let channel: any Channel

    public init(source: ApplicationRequestContextSource) {
        coreContext = .init(source: source)
        channel = source.channel
    }

    /// Whether the client is still there, for work about to start (always true without a server).
    func clientStillWaiting() async -> @Sendable () -> Bool {
        let watch = await ClientConnectionWatch.on(channel)
        return { !(watch?.clientHasGone ?? false) }
    }
}
