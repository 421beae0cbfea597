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
        writer.writeUInt(UInt64(max(0, version)))
        writer.writeUInt(UInt64(message.type.rawValue))
        writer.writeString(message.messageId)
        writer.writeString(message.sourceClientId)
        writer.writeString(message.sourceBrokerId)
        writer.writeStringArray(message.brokerIds)
        writer.writeStringArray(message.clientIds)
        writer.writeRaw(message.payload)
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
        return writer.bytes
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
