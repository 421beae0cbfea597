import DXLFabric
import TIE

// Inboxes of the TIE events, for tests (`EventInbox` is DXLFabric's).
extension TieClient {
    /// An inbox of detections (subscribed when this returns).
    public func detectionInbox() async throws -> EventInbox<Detection> {
        let inbox = EventInbox<Detection>("a detection")
        try await addFileDetectionCallback { inbox.append($0) }
        return inbox
    }

    /// An inbox of first instances.
    public func firstInstanceInbox() async throws -> EventInbox<FirstInstance> {
        let inbox = EventInbox<FirstInstance>("a first instance")
        try await addFileFirstInstanceCallback { inbox.append($0) }
        return inbox
    }

    /// An inbox of file reputation changes.
    public func fileReputationChangeInbox() async throws -> EventInbox<ReputationChange> {
        let inbox = EventInbox<ReputationChange>("a file reputation change")
        try await addFileReputationChangeCallback { inbox.append($0) }
        return inbox
    }

    /// An inbox of certificate reputation changes.
    public func certificateReputationChangeInbox() async throws -> EventInbox<ReputationChange> {
        let inbox = EventInbox<ReputationChange>("a certificate reputation change")
        try await addCertificateReputationChangeCallback { inbox.append($0) }
        return inbox
    }
}
