// swift-tools-version: 6.0
import PackageDescription

let package = Package(
    name: "tiesim",
    // Linux only (Debian 12 with Swift 6.3): the fabric runs Debian's mosquitto with a broker plugin,
    // spawns with glibc's posix_spawn extensions, and uses Glibc and the system OpenSSL directly. No
    // Apple platform is declared because none is supported.
    products: [
        .library(name: "DXLWire", targets: ["DXLWire"]),
        .library(name: "DXL", targets: ["DXL"]),
        .library(name: "DXLFabric", targets: ["DXLFabric"]),
        // The DXL broker inside mosquitto: loaded by `plugin` in the mosquitto.conf tiesim writes.
        .library(name: "tiesim-broker", type: .dynamic, targets: ["DXLBrokerPlugin"]),
        .library(name: "TIE", targets: ["TIE"]),
        .library(name: "TIESimulator", targets: ["TIESimulator"]),
        .library(name: "TIESimTesting", targets: ["TIESimTesting"]),
        .executable(name: "tiesim", targets: ["tiesim"]),
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-log.git", from: "1.16.2"),
        .package(url: "https://github.com/apple/swift-argument-parser.git", from: "1.8.2"),
        .package(url: "https://github.com/apple/swift-certificates.git", from: "1.21.1"),
        .package(url: "https://github.com/apple/swift-crypto.git", from: "3.12.3"),
        .package(url: "https://github.com/apple/swift-asn1.git", from: "1.7.4"),
        .package(url: "https://github.com/jpsim/Yams.git", from: "6.2.2"),
    ],
    targets: [
        // libmosquitto, the MQTT client library. Only DXL's transport imports it.
        .systemLibrary(
            name: "CMosquitto",
            pkgConfig: "libmosquitto",
            providers: [.apt(["libmosquitto-dev"])]
        ),
        // The system OpenSSL (Debian's libssl-dev) for the fabric's own TLS listeners: WebSockets, management.
        .systemLibrary(name: "COpenSSL", providers: [.apt(["libssl-dev"])]),
        // The mosquitto broker plugin API (Debian's mosquitto-dev); only the broker plugin imports it.
        .systemLibrary(name: "CMosquittoBroker", providers: [.apt(["mosquitto-dev"])]),
        // What travels on a DXL fabric: the message codec (msgpack) and JSON payloads. No dependencies, so
        // the broker plugin can carry it into mosquitto.
        .target(name: "DXLWire"),
        // The DXL broker's own behaviour — request routing, the registries, broker services, topic
        // authorisation — as plain Swift (`DXLBroker`, tested without mosquitto), and the C entry points
        // that put it inside stock mosquitto 2.0 (`DXLBrokerPlugin`, a dynamic library).
        .target(name: "DXLBroker", dependencies: ["DXLWire"]),
        // Its C fast path for plain events and their recipients (what `DXLBroker` would decide, without
        // entering Swift per message).
        .target(name: "DXLBrokerFastPath", dependencies: ["CMosquittoBroker"]),
        .target(name: "DXLBrokerPlugin", dependencies: ["DXLBroker", "DXLWire", "CMosquittoBroker", "DXLBrokerFastPath"]),
        // The DXL client library: MQTT transport (libmosquitto), DXLClient, dxlclient.config files.
        .target(
            name: "DXL",
            dependencies: ["CMosquitto", "DXLWire", .product(name: "Logging", package: "swift-log")]
        ),
        // A DXL fabric on this machine, for tests: real mosquitto brokers with the DXL broker plugin,
        // bridged networks of them, their PKI, and the child processes they run as.
        .target(
            name: "DXLFabric",
            dependencies: [
                "DXL", "DXLBroker", "COpenSSL",
                .product(name: "Logging", package: "swift-log"),
                .product(name: "X509", package: "swift-certificates"),
                .product(name: "Crypto", package: "swift-crypto"),
                .product(name: "_CryptoExtras", package: "swift-crypto"),
                .product(name: "SwiftASN1", package: "swift-asn1"),
            ]
        ),
        // The TIE layer: topics, constants, JSON payloads and hash encodings; the Swift TieClient.
        .target(
            name: "TIE",
            dependencies: ["DXL", .product(name: "Logging", package: "swift-log")]
        ),
        // The simulator: scenario files, the fake TIE service, the fabric services, the player.
        .target(
            name: "TIESimulator",
            dependencies: [
                "DXL", "DXLBroker", "DXLFabric", "TIE",
                .product(name: "Yams", package: "Yams"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "Crypto", package: "swift-crypto"),
            ]
        ),
        // A fake TIE fabric in one call, for users' own test suites.
        .target(name: "TIESimTesting", dependencies: ["DXL", "DXLFabric", "TIE", "TIESimulator"]),
        // The command line.
        .executableTarget(
            name: "tiesim",
            dependencies: [
                "DXL", "DXLBroker", "DXLFabric", "TIE", "TIESimulator",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
                .product(name: "Logging", package: "swift-log"),
            ]
        ),
        // Benchmarks: run with `swift run -c release dxl-bench`. The raw libmosquitto baseline
        // is the one place outside the transport that imports CMosquitto: it is what we compare against.
        .executableTarget(
            name: "dxl-bench",
            dependencies: ["DXL", "DXLFabric", "CMosquitto", .product(name: "Logging", package: "swift-log")],
            path: "Benchmarks/dxl-bench"
        ),
        // Simulator benchmarks: `swift run -c release tiesim-bench`.
        .executableTarget(
            name: "tiesim-bench",
            dependencies: ["DXL", "DXLBroker", "DXLFabric", "TIE", "TIESimulator", "CMosquitto", .product(name: "Logging", package: "swift-log"), .product(name: "Yams", package: "Yams")],
            path: "Benchmarks/tiesim-bench",
            exclude: ["python_tie_service.py", "python_detection_counter.py", "floor_plugin.c"]
        ),
        // Seeded mutation fuzzing of the codec and the scenario parser: `swift run -c release tiesim-fuzz`.
        .executableTarget(
            name: "tiesim-fuzz",
            dependencies: ["DXL", "TIESimulator"],
            path: "Benchmarks/tiesim-fuzz"
        ),
        .testTarget(name: "DXLTests", dependencies: ["DXL", "DXLFabric", "TestSupport"], exclude: ["Fixtures"]),
        .testTarget(name: "DXLBrokerTests", dependencies: ["DXLBroker", "DXLWire", "DXLBrokerFastPath", "CMosquittoBroker"]),
        // Helpers shared by the integration tests: the Python peers, inboxes, hex.
        .target(name: "TestSupport", dependencies: ["DXL", "DXLFabric"], path: "Tests/TestSupport"),
        .testTarget(name: "DXLIntegrationTests", dependencies: ["DXL", "DXLFabric", "TestSupport"], exclude: ["python"]),
        .testTarget(name: "TIETests", dependencies: ["TIE"]),
        .testTarget(name: "TIESimTestingTests", dependencies: ["TIESimTesting", "TIE", "DXL", "DXLFabric", "TIESimulator", "TestSupport"]),
        .testTarget(name: "TIESimulatorTests", dependencies: ["TIESimulator", "TIE", "DXL", "DXLBroker", "DXLFabric"]),
        .testTarget(name: "TIESimulatorIntegrationTests", dependencies: ["TIESimulator", "TIESimTesting", "TIE", "DXL", "DXLFabric", "TestSupport", .product(name: "Yams", package: "Yams")], exclude: ["python", "shims"]),
    ],
    swiftLanguageModes: [.v6]
)
