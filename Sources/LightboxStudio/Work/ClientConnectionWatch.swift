import Hummingbird
import NIOCore
import Synchronization

/// Notices when a request's client has gone: its connection closed, or its input ended (the
/// server allows half-closed connections, so a client that disconnects shows up first as the
/// end of its input). Decoding that waited its turn in the `DecodeGate` is dropped then, so two
/// abandoned bombs cannot hold every other upload up. One per connection, after HTTP decoding.
final class ClientConnectionWatch: ChannelInboundHandler, RemovableChannelHandler, Sendable {
    typealias InboundIn = NIOAny   // passed on untouched
    private let gone = Atomic<Bool>(false)

    var clientHasGone: Bool { gone.load(ordering: .relaxed) }

    func userInboundEventTriggered(context: ChannelHandlerContext, event: Any) {
        if let event = event as? ChannelEvent, case .inputClosed = event { gone.store(true, ordering: .relaxed) }
        context.fireUserInboundEventTriggered(event)
    }

    func channelInactive(context: ChannelHandlerContext) {
        gone.store(true, ordering: .relaxed)
        context.fireChannelInactive()
    }

    /// The watch on `channel`'s pipeline, looked up while the request is being served (a closed
    /// channel's pipeline is empty). nil when there is none, as in tests without a server.
    static func on(_ channel: any Channel) async -> ClientConnectionWatch? {
        try? await channel.pipeline.handler(type: ClientConnectionWatch.self).get()
    }
}
