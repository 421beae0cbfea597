import Foundation
import Logging
import Synchronization

// Services: registered with the fabric's registry, kept alive, unregistered.
extension DXLClient {
    // MARK: Services

    /// Registers `service` with the fabric's service registry: subscribes to its topics, installs its
    /// handlers, and waits (at most `timeout`) for the registry's answer, as `register_service_sync` does.
    /// The registration is renewed every TTL and after each reconnect.
    public func registerService(_ service: ServiceRegistrationInfo, timeout: Duration = .seconds(10)) async throws(DXLError) {
        var tokens: [CallbackToken] = []
        for (topic, handler) in service.requestHandlers.sorted(by: { $0.key < $1.key }) {
            tokens.append(try await addRequestCallback(topic: topic, handler))
        }
        state.withLock { state in
            state.services[service.serviceGuid] = service
            state.serviceTokens[service.serviceGuid] = tokens
        }
        try await sendRegistration(service, timeout: timeout)
        let ttl = Duration.seconds(max(1, service.ttlMinutes) * 60)
        let renewal = Task { [weak self] in
            while !Task.isCancelled {
                do { try await Task.sleep(for: ttl) } catch { return }
                try? await self?.sendRegistration(service)
            }
        }
        state.withLock { $0.renewalTasks[service.serviceGuid] = renewal }
    }

    func sendRegistration(_ service: ServiceRegistrationInfo, timeout: Duration = .seconds(10)) async throws(DXLError) {
        var request = DXLMessage.request(topic: ServiceRegistryTopic.register, payload: service.registerPayload)
        request.destinationTenantGuids = service.destinationTenantGuids
        let reply = try await self.request(request, timeout: timeout)
        if reply.type == .errorResponse {
            throw .registration(serviceType: service.serviceType, reason: "registry refused: \(reply.errorMessage ?? "") (\(reply.errorCode))")
        }
    }

    /// Unregisters `service`: removes its handlers and subscriptions and tells the registry.
    public func unregisterService(_ service: ServiceRegistrationInfo, timeout: Duration = .seconds(60)) async throws(DXLError) {
        let (tokens, renewal) = state.withLock { state in
            state.services[service.serviceGuid] = nil
            return (state.serviceTokens.removeValue(forKey: service.serviceGuid) ?? [], state.renewalTasks.removeValue(forKey: service.serviceGuid))
        }
        renewal?.cancel()
        for token in tokens { removeCallback(token) }
        let reply = try await request(.request(topic: ServiceRegistryTopic.unregister, payload: service.unregisterPayload), timeout: timeout)
        if reply.type == .errorResponse {
            throw .registration(serviceType: service.serviceType, reason: "registry refused unregistration: \(reply.errorMessage ?? "") (\(reply.errorCode))")
        }
    }
}
