/// The WebSocket framing (RFC 6455) as an MQTT-over-WebSockets server needs it: a streaming decoder of
/// the client's masked frames and the server's unmasked binary, pong and close frames. MQTT rides the
/// binary frames as a byte stream: a packet may span frames and a frame may hold several packets.
/// Plain values; not thread-safe.
package struct WebSocketDecoder {
    /// What the client sent, in order.
    package enum Output: Equatable {
        /// Payload bytes of binary (or continuation) frames.
        case data([UInt8])
        /// A ping, to be answered with a pong carrying the same bytes.
        case ping([UInt8])
        /// A close frame: the client is done.
        case close
        /// The client broke the protocol (the reason is for the log); the connection is to be closed.
        case failure(String)
    }

    private enum Stage {
        case header
        case payload(opcode: UInt8, remaining: UInt64, mask: [UInt8], maskIndex: Int)
        case failed
    }

    private var stage = Stage.header
    private var pending: [UInt8] = []
    private var control: [UInt8] = []

    package init() {}

    /// Decodes `bytes`, which follow what was fed before.
    package mutating func feed(_ bytes: UnsafeRawBufferPointer) -> [Output] {
        var outputs: [Output] = []
        var index = 0
        while index < bytes.count {
            switch stage {
            case .failed:
                return outputs
            case .header:
                // Collect the header (2 to 14 bytes) in `pending`.
                while index < bytes.count && pending.count < 14 {
                    pending.append(bytes[index])
                    index += 1
                    if let length = headerLength(), pending.count == length { break }
                }
                guard let length = headerLength(), pending.count >= length else {
                    if index >= bytes.count { return outputs }
                    continue
                }
                let first = pending[0], second = pending[1]
                let opcode = first & 0x0f
                guard first & 0x70 == 0 else { return fail("a frame with reserved bits set", into: &outputs) }
                guard second & 0x80 != 0 else { return fail("an unmasked frame from a client", into: &outputs) }
                var payloadLength = UInt64(second & 0x7f)
                var offset = 2
                if payloadLength == 126 {
                    payloadLength = UInt64(pending[2]) << 8 | UInt64(pending[3])
                    offset = 4
                } else if payloadLength == 127 {
                    payloadLength = pending[2..<10].reduce(0) { $0 << 8 | UInt64($1) }
                    offset = 10
                }
                let mask = Array(pending[offset..<(offset + 4)])
                pending.removeAll(keepingCapacity: true)
                switch opcode {
                case 0x0, 0x2: break
                case 0x8, 0x9, 0xa:
                    guard payloadLength <= 125, first & 0x80 != 0 else { return fail("a fragmented or long control frame", into: &outputs) }
                case 0x1: return fail("a text frame (MQTT travels in binary frames)", into: &outputs)
                default: return fail("an unknown opcode \(opcode)", into: &outputs)
                }
                control.removeAll(keepingCapacity: true)
                stage = .payload(opcode: opcode, remaining: payloadLength, mask: mask, maskIndex: 0)
                if payloadLength == 0 { finishFrame(opcode: opcode, into: &outputs) }
            case .payload(let opcode, let remaining, let mask, let maskIndex):
                let take = Int(min(UInt64(bytes.count - index), remaining))
                var chunk = [UInt8](repeating: 0, count: take)
                for offset in 0..<take {
                    chunk[offset] = bytes[index + offset] ^ mask[(maskIndex + offset) & 3]
                }
                index += take
                let left = remaining - UInt64(take)
                if opcode == 0x0 || opcode == 0x2 {
                    if take > 0 { outputs.append(.data(chunk)) }
                } else {
                    control += chunk
                }
                if left == 0 {
                    finishFrame(opcode: opcode, into: &outputs)
                } else {
                    stage = .payload(opcode: opcode, remaining: left, mask: mask, maskIndex: (maskIndex + take) & 3)
                }
            }
        }
        return outputs
    }

    private mutating func finishFrame(opcode: UInt8, into outputs: inout [Output]) {
        stage = .header
        switch opcode {
        case 0x8: outputs.append(.close)
        case 0x9: outputs.append(.ping(control))
        default: break
        }
    }

    private mutating func fail(_ reason: String, into outputs: inout [Output]) -> [Output] {
        stage = .failed
        outputs.append(.failure("the client sent \(reason)"))
        return outputs
    }

    /// The full header's length once its first two bytes are known.
    private func headerLength() -> Int? {
        guard pending.count >= 2 else { return nil }
        let length = pending[1] & 0x7f
        return (length == 126 ? 4 : length == 127 ? 10 : 2) + 4
    }
}

/// Server frames (never masked).
package enum WebSocketFrame {
    /// The header of a final frame with `opcode` and a payload of `length` bytes.
    package static func header(opcode: UInt8, length: Int) -> [UInt8] {
        if length < 126 { return [0x80 | opcode, UInt8(length)] }
        if length < 65_536 { return [0x80 | opcode, 126, UInt8(length >> 8), UInt8(length & 0xff)] }
        return [0x80 | opcode, 127] + (0..<8).reversed().map { UInt8((UInt64(length) >> (UInt64($0) * 8)) & 0xff) }
    }

    /// A final binary frame carrying `payload`.
    package static func binary(_ payload: UnsafeRawBufferPointer) -> [UInt8] {
        header(opcode: 0x2, length: payload.count) + payload
    }

    package static func pong(_ payload: [UInt8]) -> [UInt8] { header(opcode: 0xa, length: payload.count) + payload }

    /// A close frame with `code` (1000: normal, 1002: protocol error, 1008: policy).
    package static func close(code: UInt16) -> [UInt8] { header(opcode: 0x8, length: 2) + [UInt8(code >> 8), UInt8(code & 0xff)] }
}
