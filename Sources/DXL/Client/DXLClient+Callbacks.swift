import Foundation
import Logging
import Synchronization

// Event and request callbacks, subscriptions, and what the network thread delivers to them.
extension DXLClient {
    // MARK: Callbacks and subscriptions

    /// Calls `callback` for every event on `topic` (a trailing `#` matches everything below), and
    /// subscribes to it if needed, waiting for the broker's SUBACK when connected.
    @discardableResult
    public func addEventCallback(topic: String, subscribe: Bool = true, _ callback: @escaping @Sendable (DXLMessage) -> Void) async throws(DXLError) -> CallbackToken {
        let token = addCallback(kind: .event, topic: topic, callback)
        if subscribe { try await self.subscribe(topic) }
        return token
    }

    /// Calls `callback` for every request on `topic`, and subscribes to it.
    @discardableResult
    public func addRequestCallback(topic: String, _ callback: @escaping @Sendable (DXLMessage) -> Void) async throws(DXLError) -> CallbackToken {
        let token = addCallback(kind: .request, topic: topic, callback)
        try await subscribe(topic)
        return token
    }

    func addCallback(kind: CallbackToken.Kind, topic: String, _ callback: @escaping @Sendable (DXLMessage) -> Void) -> CallbackToken {
        state.withLock { state in
            let id = state.nextId
            state.nextId += 1
            state[callbacks: kind].add(Registration(id: id, callback: callback), topic: topic)
            return CallbackToken(id: id, topic: topic, kind: kind)
        }
    }

    /// Calls `observer` with every message this client receives — requests, responses, error responses
    /// and events, including responses meant for other clients when subscribed to their reply topics —
    /// before normal dispatch. For recorders and journals; subscribe to what should be seen.
    public func addMessageObserver(_ observer: @escaping @Sendable (DXLMessage) -> Void) {
        state.withLock { state in
            let id = state.nextId
            state.nextId += 1
            state.observers.append(Registration(id: id, callback: observer))
        }
    }

    /// Removes a callback; unsubscribes from its topic when nothing else needs it.
    public func removeCallback(_ token: CallbackToken) {
        let removed = state.withLock { $0[callbacks: token.kind].remove(token.id, topic: token.topic) }
        if removed { unsubscribe(token.topic) }
    }

    /// Subscribes to `topic` (reference-counted), waiting for the SUBACK when connected.
    public func subscribe(_ topic: String) async throws(DXLError) {
        let isNew = state.withLock { state -> Bool in
            state.subscriptionCounts[topic, default: 0] += 1
            if topic.hasSuffix("#") { state.hasWildcardSubscriptions = true }
            return state.subscriptionCounts[topic] == 1 && state.connected
        }
        guard isNew else { return }
        do { try await transport.subscribe(topic) } catch { throw .transport(error) }
    }

    /// Drops one reference to `topic`; unsubscribes when it was the last.
    public func unsubscribe(_ topic: String) {
        let isLast = state.withLock { state -> Bool in
            guard let count = state.subscriptionCounts[topic] else { return false }
            if count <= 1 {
                state.subscriptionCounts[topic] = nil
                return true
            }
            state.subscriptionCounts[topic] = count - 1
            return false
        }
        if isLast { transport.unsubscribe(topic) }
    }

    /// The topics this client is subscribed to.
    public var subscriptions: Set<String> { state.withLock { Set($0.subscriptionCounts.keys) } }

    // MARK: Receiving (network thread)

    func receive(topic: String, payload: UnsafeRawBufferPointer) {
        let message: DXLMessage
        do {
            message = try DXLMessageCodec.decode(payload, topic: topic)
        } catch {
            logger.warning("skipped a malformed message on \(topic) (\(payload.count) bytes): \(error)")
            return
        }
        let observers = state.withLock { $0.observers }
        for observer in observers { observer.callback(message) }
        switch message.type {
        case .response, .errorResponse:
            if let requestId = message.requestMessageId {
                finish(requestId, with: .success(message))
            }
        case .event, .request:
            let callbacks: [Registration] = state.withLock { state in
                if !state.sentIds.isEmpty && state.sentIds.contains(message.messageId) {
                    return []
                }
                return state[callbacks: message.type == .event ? .event : .request].callbacks(for: topic)
            }
            for registration in callbacks { registration.callback(message) }
        }
    }
}
