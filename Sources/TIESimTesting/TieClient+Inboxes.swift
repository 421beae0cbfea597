import DXLFabric
import TIE

// Inboxes of the TIE events, for tests (`EventInbox` is DXLFabric's).
extension TieClient {
    /// An inbox of detections (subscribed when this returns).
    public func detectionInbox() async throws -> EventInbox<Detection> {
        try await inbox("a detection", addFileDetectionCallback)
    }

    /// An inbox of first instances.
    public func firstInstanceInbox() async throws -> EventInbox<FirstInstance> {
        try await inbox("a first instance", addFileFirstInstanceCallback)
    }

    /// An inbox of file reputation changes.
    public func fileReputationChangeInbox() async throws -> EventInbox<ReputationChange> {
        try await inbox("a file reputation change", addFileReputationChangeCallback)
    }

    /// An inbox of certificate reputation changes.
    public func certificateReputationChangeInbox() async throws -> EventInbox<ReputationChange> {
        try await inbox("a certificate reputation change", addCertificateReputationChangeCallback)
    }

    /// An inbox named `what`, filled by the callback `add` registers.
    private func inbox<Event: Sendable>(_ what: String,
                                        _ add: (@escaping @Sendable (Event) -> Void) async throws(TieError) -> CallbackToken) async throws -> EventInbox<Event> {
        let inbox = EventInbox<Event>(what)
        _ = try await add { inbox.append($0) }
        return inbox
    }
}
