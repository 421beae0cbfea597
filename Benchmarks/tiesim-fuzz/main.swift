// tiesim-fuzz: seeded random-mutation fuzzing of the DXL codec and the scenario parser.
//
//   swift run -c release tiesim-fuzz [--codec N] [--scenario N] [--seed S] [--save DIR]
//
// Mutates the captured dxlclient messages and the shipped scenarios (byte flips, insertions,
// deletions, truncations, splices, random bytes, numbers replaced by extremes such as 1e20s or 1e-10/s)
// and feeds each input to the decoder or the parser.
// Every input must end in a value or a typed error (the signatures are typed: DXLDecodingError,
// ScenarioError); a crash ends the process, and an input slower than --slow milliseconds counts as a
// hang and is saved to the corpus folder, whose files the test suite replays. Scenario inputs that the
// quick YAML reader accepts are also read by Yams, and any difference in the trees is saved.
import DXL
import Foundation
import TIESimulator

let arguments = CommandLine.arguments
func option(_ name: String, _ fallback: Int) -> Int {
    guard let index = arguments.firstIndex(of: name), index + 1 < arguments.count, let value = Int(arguments[index + 1]) else { return fallback }
    return value
}
func stringOption(_ name: String) -> String? {
    guard let index = arguments.firstIndex(of: name), index + 1 < arguments.count else { return nil }
    return arguments[index + 1]
}

let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
let corpus = stringOption("--save") ?? root.appendingPathComponent("Tests/Fuzz/corpus").path
let slowMilliseconds = option("--slow", 1000)

var random = SplitMix64(seed: UInt64(option("--seed", 20261127)))

@MainActor func mutate(_ input: [UInt8], seeds: [[UInt8]]) -> [UInt8] {
    var bytes = input
    for _ in 0..<Int.random(in: 1...4, using: &random) {
        switch Int.random(in: 0..<8, using: &random) {
        case 0 where !bytes.isEmpty: bytes[Int.random(in: 0..<bytes.count, using: &random)] = UInt8.random(in: 0...255, using: &random)
        case 1 where !bytes.isEmpty: bytes[Int.random(in: 0..<bytes.count, using: &random)] ^= 1 << UInt8.random(in: 0...7, using: &random)
        case 2: bytes.insert(UInt8.random(in: 0...255, using: &random), at: Int.random(in: 0...bytes.count, using: &random))
        case 3 where !bytes.isEmpty: bytes.remove(at: Int.random(in: 0..<bytes.count, using: &random))
        case 4 where !bytes.isEmpty: bytes = Array(bytes.prefix(Int.random(in: 0..<bytes.count, using: &random)))
        case 5:
            let other = seeds[Int.random(in: 0..<seeds.count, using: &random)]
            guard !other.isEmpty, !bytes.isEmpty else { break }
            let cut = Int.random(in: 0..<bytes.count, using: &random), from = Int.random(in: 0..<other.count, using: &random)
            bytes = Array(bytes.prefix(cut)) + Array(other.suffix(from: from))
        case 7:
            // Numeric extremes in place of a number (durations, rates, counts, ports): each must be a
            // file:line:column error or a value, never a trap in a conversion.
            let extremes = ["1e20", "1e-10", "1e300", "-1", "9223372036854775807", "18446744073709551616", "nan", "inf", "1e19s", "1e20s",
                            "1e-10/s", "1e300/s", "0.0000001ms", "99999999999h", "-0", "0x7fffffff", "4294967296"].map { Array($0.utf8) }
            let digits = bytes.indices.filter { (0x30...0x39).contains(bytes[$0]) }
            guard let start = digits.randomElement(using: &random) else { break }
            var end = start
            while end < bytes.count, (0x30...0x39).contains(bytes[end]) || bytes[end] == 0x2e { end += 1 }
            bytes.replaceSubrange(start..<end, with: extremes[Int.random(in: 0..<extremes.count, using: &random)])
        default:
            // Interesting values: msgpack length headers, YAML syntax.
            let tokens: [[UInt8]] = [[0xdb, 0xff, 0xff, 0xff, 0xff], [0xdd, 0x7f, 0xff, 0xff, 0xff], [0xc0], [0xd9, 0x05], [0xc6, 0, 0, 1, 0],
                                     Array("&a [*a, *a]".utf8), Array(": {".utf8), Array("\n  - ".utf8), Array("[[[[[[[[".utf8), Array("\"\\u".utf8)]
            let token = tokens[Int.random(in: 0..<tokens.count, using: &random)]
            bytes.insert(contentsOf: token, at: Int.random(in: 0...bytes.count, using: &random))
        }
    }
    return bytes
}

@MainActor func save(_ bytes: [UInt8], kind: String, reason: String) {
    let path = "\(corpus)/\(kind)/found-\(reason)-\(String(format: "%016llx", random.next())).\(kind == "codec" ? "bin" : "yaml")"
    _ = FileManager.default.createFile(atPath: path, contents: Data(bytes))
    print("saved \(reason) input to \(path)")
}

let clock = ContinuousClock()

// MARK: Codec
let vectorFolder = root.appendingPathComponent("Tests/DXLTests/Fixtures").path
var codecSeeds: [[UInt8]] = try FileManager.default.contentsOfDirectory(atPath: vectorFolder).filter { $0.hasSuffix(".hex") }.map { name in
    let text = try String(contentsOfFile: vectorFolder + "/" + name, encoding: .utf8).trimmingCharacters(in: .whitespacesAndNewlines)
    var bytes: [UInt8] = []
    var index = text.startIndex
    while index < text.endIndex {
        let next = text.index(index, offsetBy: 2)
        bytes.append(UInt8(text[index..<next], radix: 16) ?? 0)
        index = next
    }
    return bytes
}
codecSeeds += [DXLMessageCodec.encode(.errorResponse(to: .request(topic: "/x", payload: "y"), code: -2_147_483_647, message: "unable to locate service for request"), version: 3)]
let codecCount = option("--codec", 2_000_000)
var decoded = 0, rejected = 0, slowest = Duration.zero
var start = clock.now
for iteration in 0..<codecCount {
    let input = iteration % 50 == 0 ? (0..<Int.random(in: 0...64, using: &random)).map { _ in UInt8.random(in: 0...255, using: &random) }
                                    : mutate(codecSeeds[iteration % codecSeeds.count], seeds: codecSeeds)
    let before = clock.now
    do {
        _ = try DXLMessageCodec.decode(input)
        decoded += 1
    } catch {
        rejected += 1  // typed: DXLDecodingError
    }
    let took = clock.now - before
    slowest = max(slowest, took)
    if took > .milliseconds(slowMilliseconds) { save(input, kind: "codec", reason: "slow") }
}
print("codec: \(codecCount) inputs in \(clock.now - start): \(decoded) decoded, \(rejected) rejected with DXLDecodingError, 0 crashes, slowest \(slowest)")

// MARK: Scenario parser
let scenarioFolder = root.appendingPathComponent("scenarios").path
let scenarioSeeds: [[UInt8]] = try FileManager.default.contentsOfDirectory(atPath: scenarioFolder).filter { $0.hasSuffix(".yaml") }.sorted()
    .compactMap { FileManager.default.contents(atPath: scenarioFolder + "/" + $0).map { [UInt8]($0) } }
let scenarioCount = option("--scenario", 200_000)
var parsed = 0, refused = 0, quickRead = 0, disagreements = 0
slowest = .zero
start = clock.now
for iteration in 0..<scenarioCount {
    let input = mutate(scenarioSeeds[iteration % scenarioSeeds.count], seeds: scenarioSeeds)
    let before = clock.now
    do {
        _ = try ScenarioLoader.parse(data: Data(input), file: "fuzz.yaml")
        parsed += 1
    } catch {
        refused += 1  // typed: ScenarioError, each issue with file:line:column
        if error.issues.isEmpty { save(input, kind: "scenario", reason: "no-issue") }
    }
    let took = clock.now - before
    slowest = max(slowest, took)
    if took > .milliseconds(slowMilliseconds) { save(input, kind: "scenario", reason: "slow") }
    // Differential: wherever the quick YAML reader accepts a text, Yams must read the same tree.
    if let text = String(validating: input, as: UTF8.self), let quick = QuickYAMLReader.read(text) {
        quickRead += 1
        if quick != ((try? YAMLNode.readWithYams(text)) ?? nil) {
            disagreements += 1
            save(input, kind: "scenario", reason: "quick-reader-disagrees")
        }
    }
}
print("scenario: \(scenarioCount) inputs in \(clock.now - start): \(parsed) valid, \(refused) refused with ScenarioError, 0 crashes, slowest \(slowest)")
print("scenario: the quick YAML reader read \(quickRead) inputs; Yams read \(disagreements) of them differently")
