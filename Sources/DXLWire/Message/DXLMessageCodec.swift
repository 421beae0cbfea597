/// Why bytes could not be read as a DXL message.
public enum DXLDecodingError: Error, Equatable, Sendable, CustomStringConvertible {
    /// The body is empty.
    case empty
    /// The message type code is not 0–3.
    case unknownMessageType(Int64)
    /// The version is negative or absurd.
    case unsupportedVersion(Int64)
    /// A field could not be read; `field` names it as `dxlclient` does.
    case malformedField(field: String, MessagePackError)

    public var description: String {
        switch self {
        case .empty: return "empty message body"
        case .unknownMessageType(let code): return "unknown message type \(code) (expected 0–3)"
        case .unsupportedVersion(let version): return "unsupported message version \(version)"
        case .malformedField(let field, let error): return "malformed field '\(field)': \(error)"
        }
    }
}

/// Encodes and decodes DXL messages: msgpack values written one after another (see `dxl-wire.md` §1).
///
/// Decoding reads versions 0–3 (and ignores trailing fields, as `dxlclient` does); encoding writes
/// version 2 by default, byte-identical to `dxlclient` 5.7.0.1. Stateless and thread-safe.
public enum DXLMessageCodec {
    /// Encodes `message` at `version` (0–3; default 2, what `dxlclient` writes).
    public static func encode(_ message: DXLMessage, version: Int = DXLMessage.writtenVersion) -> [UInt8] {
        var writer = MessagePackWriter(capacity: message.payload.count + 128)
        writeHead(message.type, version: version, to: &writer)
        writer.writeString(message.messageId)
        writeRouting(message, to: &writer)
        writer.writeRaw(message.payload)
        writeTail(message, version: version, to: &writer)
        return writer.bytes
    }

    /// The fields before the message id.
    static func writeHead(_ type: DXLMessageType, version: Int, to writer: inout MessagePackWriter) {
        writer.writeUInt(UInt64(max(0, version)))
        writer.writeUInt(UInt64(type.rawValue))
    }

    /// The fields between the message id and the payload.
    static func writeRouting(_ message: DXLMessage, to writer: inout MessagePackWriter) {
        writer.writeString(message.sourceClientId)
        writer.writeString(message.sourceBrokerId)
        writer.writeStringArray(message.brokerIds)
        writer.writeStringArray(message.clientIds)
    }

    /// The fields after the payload.
    static func writeTail(_ message: DXLMessage, version: Int, to writer: inout MessagePackWriter) {
        switch message.type {
        case .request:
            writer.writeOptionalString(message.replyToTopic)
            writer.writeString(message.serviceId)
        case .response:
            writer.writeOptionalString(message.requestMessageId)
            writer.writeString(message.serviceId)
        case .errorResponse:
            writer.writeOptionalString(message.requestMessageId)
            writer.writeString(message.serviceId)
            writer.writeInt(message.errorCode)
            writer.writeOptionalString(message.errorMessage)
        case .event:
            break
        }
        if version > 0 {
            writer.writeArrayHeader(message.otherFields.count * 2)
            for field in message.otherFields {
                writer.writeString(field.name)
                writer.writeString(field.value)
            }
        }
        if version > 1 {
            writer.writeString(message.sourceTenantGuid)
            writer.writeStringArray(message.destinationTenantGuids)
        }
        if version > 2 {
            writer.writeOptionalString(message.sourceClientInstanceId)
        }
    }

    /// Decodes a message body received on `topic`.
    public static func decode(_ bytes: [UInt8], topic: String = "") throws(DXLDecodingError) -> DXLMessage {
        let result = bytes.withUnsafeBytes { buffer in
            Result { () throws(DXLDecodingError) in try decode(buffer, topic: topic) }
        }
        return try result.get()
    }

    /// Decodes a message body received on `topic` from memory that is only valid during the call.
    public static func decode(_ buffer: UnsafeRawBufferPointer, topic: String = "") throws(DXLDecodingError) -> DXLMessage {
        guard !buffer.isEmpty else { throw .empty }
        var reader = MessagePackReader(buffer)
        let version = try field("version", &reader) { r throws(MessagePackError) in try r.readInt() }
        guard version >= 0, version <= Int64(Int32.max) else { throw .unsupportedVersion(version) }
        let typeCode = try field("message_type", &reader) { r throws(MessagePackError) in try r.readInt() }
        guard typeCode >= 0, typeCode <= 3, let type = DXLMessageType(rawValue: UInt8(typeCode)) else {
            throw .unknownMessageType(typeCode)
        }
        var message = DXLMessage(type: type, destinationTopic: topic, messageId: "")
        message.version = Int(version)
        message.messageId = try field("message_id", &reader) { r throws(MessagePackError) in try r.readString() }
        message.sourceClientId = try field("source_client_id", &reader) { r throws(MessagePackError) in try r.readString() }
        message.sourceBrokerId = try field("source_broker_id", &reader) { r throws(MessagePackError) in try r.readString() }
        message.brokerIds = try field("broker_ids", &reader) { r throws(MessagePackError) in try r.readStringArray() }
        message.clientIds = try field("client_ids", &reader) { r throws(MessagePackError) in try r.readStringArray() }
        message.payload = try field("payload", &reader) { r throws(MessagePackError) in try r.readBytes() }
        switch type {
        case .request:
            message.replyToTopic = try field("reply_to_topic", &reader) { r throws(MessagePackError) in try r.readOptionalString() }
            message.serviceId = try field("service_id", &reader) { r throws(MessagePackError) in try r.readString() }
        case .response, .errorResponse:
            message.requestMessageId = try field("request_message_id", &reader) { r throws(MessagePackError) in try r.readOptionalString() }
            message.serviceId = try field("service_id", &reader) { r throws(MessagePackError) in try r.readString() }
            if type == .errorResponse {
                message.errorCode = try field("error_code", &reader) { r throws(MessagePackError) in try r.readInt() }
                message.errorMessage = try field("error_message", &reader) { r throws(MessagePackError) in try r.readOptionalString() }
            }
        case .event:
            break
        }
        if version > 0 {
            let flat = try field("other_fields", &reader) { r throws(MessagePackError) in try r.readStringArray() }
            var fields: [DXLMessage.OtherField] = []
            fields.reserveCapacity(flat.count / 2)
            var index = 0
            // dxlclient pairs keys with values in order; an odd trailing key has no value and is dropped.
            while index + 1 < flat.count {
                fields.append(.init(flat[index], flat[index + 1]))
                index += 2
            }
            message.otherFields = fields
        }
        if version > 1 {
            message.sourceTenantGuid = try field("source_tenant_guid", &reader) { r throws(MessagePackError) in try r.readString() }
            message.destinationTenantGuids = try field("destination_tenant_guids", &reader) { r throws(MessagePackError) in try r.readStringArray() }
        }
        if version > 2 {
            message.sourceClientInstanceId = try field("source_client_instance_id", &reader) { r throws(MessagePackError) in try r.readOptionalString() }
        }
        return message
    }

    @inline(__always)
    private static func field<T>(
        _ name: String,
        _ reader: inout MessagePackReader,
        _ read: (inout MessagePackReader) throws(MessagePackError) -> T
    ) throws(DXLDecodingError) -> T {
        do {
            return try read(&reader)
        } catch {
            throw .malformedField(field: name, error)
        }
    }
}

/// Encodes a stream of events from one sender that differ only in their payloads — tiesim's player
/// sends millions — with the bytes `DXLMessageCodec.encode` would write for each and a fresh message id
/// each: every field but the id and the payload is encoded once, and an event costs one buffer.
/// A value type with no shared state; thread-safe.
public struct DXLEventEncoder: Sendable {
    private let head: [UInt8]
    private let routing: [UInt8]
    private let tail: [UInt8]

    /// Events like `template` (its fields other than the type, the message id and the payload).
    public init(template: DXLMessage, version: Int = DXLMessage.writtenVersion) {
        var writer = MessagePackWriter(capacity: 16)
        DXLMessageCodec.writeHead(.event, version: version, to: &writer)
        head = writer.bytes
        writer = MessagePackWriter(capacity: 128)
        DXLMessageCodec.writeRouting(template, to: &writer)
        routing = writer.bytes
        writer = MessagePackWriter(capacity: 64)
        var event = template
        event.type = .event
        DXLMessageCodec.writeTail(event, version: version, to: &writer)
        tail = writer.bytes
    }

    /// One event's bytes, with a new message id.
    public func encode<Payload: Collection>(payload: Payload) -> [UInt8] where Payload.Element == UInt8 {
        var writer = MessagePackWriter(capacity: head.count + MessageId.length + 3 + routing.count + payload.count + 5 + tail.count)
        writer.writeEncoded(head)
        MessageId.write(to: &writer)
        writer.writeEncoded(routing)
        writer.writeRaw(payload)
        writer.writeEncoded(tail)
        return writer.bytes
    }
}
