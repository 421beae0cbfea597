import CMosquitto
import Foundation
#if canImport(Glibc)
import Glibc
#endif
import Logging
import Synchronization

// What libmosquitto tells the transport (on the network thread): connects, disconnects, written
// publishes, SUBACKs and messages.
extension MQTTTransport {
    static func transport(_ userdata: UnsafeMutableRawPointer?) -> MQTTTransport? {
        guard let userdata else { return nil }
        return Unmanaged<MQTTTransport>.fromOpaque(userdata).takeUnretainedValue()
    }

    func installCallbacks() {
        mosquitto_connect_callback_set(handle) { _, userdata, rc in
            MQTTTransport.transport(userdata)?.didConnect(rc)
        }
        mosquitto_disconnect_callback_set(handle) { _, userdata, rc in
            MQTTTransport.transport(userdata)?.didDisconnect(rc)
        }
        mosquitto_publish_callback_set(handle) { _, userdata, _ in
            // libmosquitto calls this for QoS 0 once the PUBLISH is written to the socket.
            guard let transport = MQTTTransport.transport(userdata) else { return }
            let left = transport.unwritten.subtract(1, ordering: .sequentiallyConsistent).newValue
            if left <= transport.drainThreshold.load(ordering: .sequentiallyConsistent) { transport.wakeDrainWaiters() }
        }
        mosquitto_subscribe_callback_set(handle) { _, userdata, mid, _, _ in
            MQTTTransport.transport(userdata)?.didSubscribe(mid)
        }
        mosquitto_message_callback_set(handle) { _, userdata, message in
            guard let transport = MQTTTransport.transport(userdata), let message else { return }
            let msg = message.pointee
            guard let topicPointer = msg.topic else { return }
            let topic = String(cString: topicPointer)
            let payload = UnsafeRawBufferPointer(start: msg.payload, count: Int(msg.payloadlen))
            transport.handlers.message(topic, payload)
        }
    }

    func didConnect(_ rc: Int32) {
        let (waiter, isReconnect, target): (CheckedContinuation<Void, any Error>?, Bool, (host: String, port: Int)) = state.withLock { state in
            // While a newer connect is dialling, the answer is the newest one's: kept for it, and an older
            // waiter is left for it to supersede.
            let waiter = state.dialling > 0 ? nil : state.connectWaiter
            if state.dialling > 0 {
                state.earlyConnack = rc
            } else {
                state.connectWaiter = nil
            }
            if rc == 0 {
                state.isConnected = true
                // The broker accepted us: it is the one we are on now, and backoff starts over.
                if !state.dialled.host.isEmpty { state.connectTarget = state.dialled }
                state.failures = 0
            }
            let isReconnect = waiter == nil && state.dialling == 0 && state.hasConnected && rc == 0
            if rc == 0 { state.hasConnected = true }
            return (waiter, isReconnect, state.connectTarget)
        }
        if let waiter {
            if rc == 0 {
                waiter.resume()
            } else {
                waiter.resume(throwing: TransportError.refused(host: target.host, port: target.port, reason: String(cString: mosquitto_connack_string(rc))))
            }
        } else if isReconnect {
            logger.info("reconnected to \(target.host):\(target.port)")
            handlers.reconnected()
        }
    }

    func didDisconnect(_ rc: Int32) {
        let (waiter, target, subscribers) = state.withLock { state in
            // While a newer connect is dialling (it closes the old connection), an older waiter is left for
            // it to supersede: failing it would shut the transport down under the newer connect.
            let waiter = state.dialling > 0 ? nil : state.connectWaiter
            if state.dialling == 0 { state.connectWaiter = nil }
            state.isConnected = false
            // A SUBACK cannot come on a connection that is gone: those waiting for one hear so now.
            defer { state.subscribeWaiters.removeAll() }
            return (waiter, state.connectTarget, Array(state.subscribeWaiters.values))
        }
        for subscriber in subscribers { subscriber.resume(returning: MOSQ_ERR_NO_CONN.rawValue) }
        let closing = closingFlag.load(ordering: .sequentiallyConsistent)
        // libmosquitto drops what it had not written; forget it, or flow control would wait forever.
        forgetUnwritten()
        let reason = Self.errorText(rc)
        if let waiter {
            waiter.resume(throwing: TransportError.closedDuringHandshake(host: target.host, port: target.port, reason: reason))
        } else if !closing && rc != 0 {
            logger.warning("lost connection to \(target.host):\(target.port): \(reason); reconnecting with backoff")
            handlers.connectionLost(reason)
        }
    }

    func didSubscribe(_ mid: Int32) {
        let waiter = state.withLock { $0.subscribeWaiters.removeValue(forKey: mid) }
        waiter?.resume(returning: MOSQ_ERR_SUCCESS.rawValue)
    }
}
