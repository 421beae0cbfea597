// swift-tools-version: 6.0
import PackageDescription

let package = Package(
    name: "tiesim",
    platforms: [.macOS(.v15)],
    products: [
        .library(name: "DXL", targets: ["DXL"]),
        .executable(name: "tiesim", targets: ["tiesim"]),
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-log.git", from: "1.16.2"),
        .package(url: "https://github.com/apple/swift-argument-parser.git", from: "1.8.2"),
        .package(url: "https://github.com/apple/swift-certificates.git", from: "1.21.1"),
        .package(url: "https://github.com/apple/swift-crypto.git", from: "3.12.3"),
        .package(url: "https://github.com/apple/swift-asn1.git", from: "1.7.4"),
    ],
    targets: [
        // libmosquitto, the MQTT client library. Only DXL's transport imports it.
        .systemLibrary(
            name: "CMosquitto",
            pkgConfig: "libmosquitto",
            providers: [.apt(["libmosquitto-dev"])]
        ),
        // The DXL layer: message codec, MQTT transport, client, config files, local broker and PKI.
        .target(
            name: "DXL",
            dependencies: [
                "CMosquitto",
                .product(name: "Logging", package: "swift-log"),
                .product(name: "X509", package: "swift-certificates"),
                .product(name: "Crypto", package: "swift-crypto"),
                .product(name: "_CryptoExtras", package: "swift-crypto"),
                .product(name: "SwiftASN1", package: "swift-asn1"),
            ]
        ),
        // The command line.
        .executableTarget(
            name: "tiesim",
            dependencies: [
                "DXL",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
                .product(name: "Logging", package: "swift-log"),
            ]
        ),
        // Benchmarks: run with `swift run -c release dxl-bench`. The raw libmosquitto baseline
        // is the one place outside the transport that imports CMosquitto: it is what we compare against.
        .executableTarget(
            name: "dxl-bench",
            dependencies: ["DXL", "CMosquitto", .product(name: "Logging", package: "swift-log")],
            path: "Benchmarks/dxl-bench"
        ),
        .testTarget(name: "DXLTests", dependencies: ["DXL"], exclude: ["Fixtures"]),
        .testTarget(name: "DXLIntegrationTests", dependencies: ["DXL"], exclude: ["python"]),
    ],
    swiftLanguageModes: [.v6]
)
