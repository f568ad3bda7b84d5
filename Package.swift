// swift-tools-version: 6.1
// CreditMeter: an exact, concurrent credit-metering engine for AI gateways.
//
// Targets, by responsibility and dependency weight:
// - CreditCore: the sequential state machine of the spec. Pure: no clock reads, no I/O.
// - CreditTrace: the JSON-lines trace format (strict parser, encoder) over CreditCore.
// - creditmeter: the command-line tool.
import PackageDescription

let package = Package(
    name: "CreditMeter",
    platforms: [.macOS(.v15)],
    products: [
        .library(name: "CreditCore", targets: ["CreditCore"]),
        .library(name: "CreditTrace", targets: ["CreditTrace"]),
        .executable(name: "creditmeter", targets: ["creditmeter"]),
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-argument-parser", from: "1.8.2"),
        .package(url: "https://github.com/apple/swift-collections", from: "1.6.0"),
    ],
    targets: [
        .target(
            name: "CreditCore",
            dependencies: [.product(name: "HeapModule", package: "swift-collections")]
        ),
        .target(name: "CreditTrace", dependencies: ["CreditCore"]),
        .executableTarget(
            name: "creditmeter",
            dependencies: [
                "CreditCore", "CreditTrace",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
            ]
        ),
        .testTarget(name: "CreditCoreTests", dependencies: ["CreditCore"]),
        .testTarget(name: "CreditTraceTests", dependencies: ["CreditCore", "CreditTrace"]),
    ]
)
