import DXL
import Foundation
import Testing

/// JSON objects keep their members' order as Python's dicts do.
@Suite("JSON objects: member order")
struct JSONObjectTests {
    @Test("members are written in the order they were added unless sorted keys are asked for")
    func insertionOrder() {
        var object: JSONObject = ["trustLevel": 99, "providerId": 1]
        object["filename"] = "A.EXE"
        object["comment"] = ""
        let value = JSONValue.object(object)
        #expect(value.serialized(style: .python, sortedKeys: false) == #"{"trustLevel": 99, "providerId": 1, "filename": "A.EXE", "comment": ""}"#)
        #expect(value.serialized(style: .python) == #"{"comment": "", "filename": "A.EXE", "providerId": 1, "trustLevel": 99}"#)
        #expect(object.keys == ["trustLevel", "providerId", "filename", "comment"])
        #expect(object.map(\.key) == object.keys)
        #expect(object.values == [99, 1, "A.EXE", ""])
    }

    @Test("parsing keeps the order it read; a repeated key keeps its first place and its last value, as json.loads")
    func parsedOrder() throws {
        let text = #"{"z": 1, "a": {"y": [1, {"q": 2, "b": 3}], "c": null}, "m": "x"}"#
        #expect(try JSONValue.parse(text).serialized(style: .python, sortedKeys: false) == text)
        let repeated = try JSONValue.parse(#"{"a": 1, "b": 2, "a": 3}"#)
        #expect(repeated.serialized(style: .python, sortedKeys: false) == #"{"a": 3, "b": 2}"#)
        let python = try JSONSerialization.jsonObject(with: Data(#"{"a": 1, "b": 2, "a": 3}"#.utf8)) as? [String: Int]
        #expect(python?["a"] == repeated["a"]?.intValue.map(Int.init))
    }

    @Test("removing a member drops its key; adding it again puts it last; replacing keeps its place")
    func removeAndReplace() {
        var object: JSONObject = ["a": 1, "b": 2, "c": 3]
        object["a"] = nil
        #expect(object.keys == ["b", "c"] && object.count == 2 && object["a"] == nil)
        object["a"] = 4
        object["b"] = 5
        #expect(object.keys == ["b", "c", "a"])
        #expect(object["b"] == 5)
        object["missing"] = nil
        #expect(object.count == 3)
    }

    @Test("a large object (past the size where keys are compared in turn) keeps order, lookups and removals")
    func largeObject() throws {
        let keys = (0..<200).map { "k\($0)" }.shuffled()
        var object = JSONObject(keys.enumerated().map { ($0.element, JSONValue.int(Int64($0.offset))) })
        #expect(object.keys == keys)
        for (offset, key) in keys.enumerated() { #expect(object[key] == .int(Int64(offset))) }
        object[keys[3]] = nil
        object[keys[0]] = "replaced"
        object[keys[3]] = "again"
        #expect(object.count == 200 && object.keys.last == keys[3] && object.keys.first == keys[0])
        #expect(object[keys[4]] == .int(4) && object[keys[0]] == "replaced")
        let text = JSONValue.object(object).serialized(sortedKeys: false)
        #expect(try JSONValue.parse(text).objectValue?.keys == object.keys)
        #expect(JSONObject(object.reversed().map { ($0.key, $0.value) }) == object)
        // Repeated keys in a large parsed object: first place, last value.
        let repeated = "{" + (keys + keys).enumerated().map { "\"\($0.element)\": \($0.offset)" }.joined(separator: ", ") + "}"
        let parsed = try #require(try JSONValue.parse(repeated).objectValue)
        #expect(parsed.keys == keys && parsed[keys[0]] == .int(200))
    }

    @Test("removing many members of a large object stays linear and keeps order", .timeLimit(.minutes(1)))
    func manyRemovals() {
        let keys = (0..<200_000).map { "key\($0)" }
        var object = JSONObject(keys.map { ($0, JSONValue.bool(true)) })
        func removed(_ position: Int) -> Bool { position < 150_000 && (position % 10 == 7 || position % 10 == 3 || position % 4 == 0) }
        for (position, key) in keys.enumerated() where removed(position) { object[key] = nil }
        let kept = keys.enumerated().filter { !removed($0.offset) }.map(\.element)
        #expect(object.count == kept.count)
        #expect(object.keys == kept)
        #expect(object["key7"] == nil && object["key199999"] == .bool(true))
        object["key7"] = .int(7)
        #expect(object.keys.last == "key7" && object.count == kept.count + 1)
    }

    @Test("random sets and removals agree with a model (an ordered key list and a dictionary), small and indexed")
    func againstModel() {
        var generator = SystemRandomNumberGenerator()
        for pool in [8, 40, 400] {
            var object = JSONObject()
            var order: [String] = []
            var model: [String: JSONValue] = [:]
            for step in 0..<20_000 {
                let key = "k\(Int.random(in: 0..<pool, using: &generator))"
                if Bool.random(using: &generator) {
                    object[key] = .int(Int64(step))
                    if model[key] == nil { order.append(key) }
                    model[key] = .int(Int64(step))
                } else {
                    object[key] = nil
                    if model.removeValue(forKey: key) != nil { order.removeAll { $0 == key } }
                }
                if step % 97 == 0 {
                    #expect(object.keys == order)
                    #expect(object.count == model.count)
                    #expect(object.dictionary == model)
                }
            }
            #expect(object.keys == order && order.allSatisfy { object[$0] == model[$0] })
        }
    }

    @Test("sorted keys: integers by value and before text, text by code point; equal objects print alike")
    func sortedKeyOrder() {
        let one: JSONObject = ["10": 1, "9": 2, "1a": 3, "05": 4, "-1": 5]
        let other: JSONObject = ["1a": 3, "05": 4, "9": 2, "-1": 5, "10": 1]
        #expect(JSONValue.object(one).serialized() == JSONValue.object(other).serialized())
        #expect(JSONValue.object(one).serialized() == #"{"-1":5,"9":2,"10":1,"05":4,"1a":3}"#)
        // Text by code point, as Python's sorted() (not by Unicode collation): "Z" < "a" < "é" < "𝔸".
        let text: JSONObject = ["𝔸": 1, "é": 2, "a": 3, "Z": 4, "ab": 5]
        #expect(JSONValue.object(text).serialized(style: .compact) == #"{"Z":4,"a":3,"ab":5,"\u00e9":2,"\ud835\udd38":1}"#)
    }

    @Test("equality and hashing ignore member order; a dictionary becomes sorted keys")
    func equality() {
        let one: JSONObject = ["a": 1, "b": [2, 3]]
        let other: JSONObject = ["b": [2, 3], "a": 1]
        #expect(one == other)
        #expect(Set([JSONValue.object(one), .object(other)]).count == 1)
        #expect(one != ["a": 1, "b": [3, 2]])
        #expect(JSONObject(["z": 1, "b": 2, "k": 3]).keys == ["b", "k", "z"])
        #expect(one.mapValues { _ in .null }.keys == ["a", "b"])
    }

    @Test("keys are told apart by code point, as Python's: canonically equivalent keys stay two members")
    func keysByCodePoint() throws {
        let composed = "\u{e9}", decomposed = "e\u{301}"
        #expect(composed == decomposed, "Swift's String equality, which the keys must not use")
        var object: JSONObject = [composed: 1]
        object[decomposed] = 2
        #expect(object.count == 2 && object[composed] == 1 && object[decomposed] == 2)
        #expect(object != [decomposed: 2, composed: 2])
        #expect(JSONObject([composed: 1]) != JSONObject([decomposed: 1]))
        // Parsed as json.loads reads it, written as json.dumps writes it (checked against Python 3).
        let parsed = try JSONValue.parse(#"{"\#(composed)": 1, "\#(decomposed)": 2}"#)
        #expect(parsed.serialized(style: .python, sortedKeys: false) == #"{"\u00e9": 1, "e\u0301": 2}"#)
        #expect(parsed.serialized(style: .python) == #"{"e\u0301": 2, "\u00e9": 1}"#)
        // The same past the size where an object keeps an index by key.
        var large = JSONObject((0..<20).map { ("k\($0)", JSONValue.int(Int64($0))) })
        large[composed] = "composed"
        large[decomposed] = "decomposed"
        #expect(large.count == 22 && large[composed] == "composed" && large[decomposed] == "decomposed")
        large[composed] = nil
        #expect(large.count == 21 && large[composed] == nil && large[decomposed] == "decomposed")
    }
}
