// swift-tools-version: 6.1
// CreditMeter: an exact, concurrent credit-metering engine for AI gateways.
//
// Targets, by responsibility and dependency weight:
// - CreditCore: the sequential state machine of the spec. Pure: no clock reads, no I/O.
// - CreditTrace: the JSON-lines trace format (strict parser, encoder) over CreditCore.
// - CreditEngine: the concurrent sharded engine with atomic admission.
// - CreditJournal: the durable journal, snapshots and recovery.
// - CreditDurable: the concurrent engine with its changes journalled.
// - CreditLoad: the load harness: workloads, drivers, histograms, peer adapters.
// - creditmeter: the command-line tool.
import PackageDescription

let package = Package(
    name: "CreditMeter",
    platforms: [.macOS(.v15)],
    products: [
        .library(name: "CreditCore", targets: ["CreditCore"]),
        .library(name: "CreditTrace", targets: ["CreditTrace"]),
        .library(name: "CreditEngine", targets: ["CreditEngine"]),
        .library(name: "CreditJournal", targets: ["CreditJournal"]),
        .library(name: "CreditDurable", targets: ["CreditDurable"]),
        .library(name: "CreditLoad", targets: ["CreditLoad"]),
        .executable(name: "creditmeter", targets: ["creditmeter"]),
    ],
    traits: [
        .trait(
            name: "Jemalloc",
            description: "Link jemalloc (libjemalloc-dev) as the creditmeter executable's allocator."),
        .default(enabledTraits: ["Jemalloc"]),
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-argument-parser", from: "1.8.2"),
        .package(url: "https://github.com/HdrHistogram/hdrhistogram-swift", from: "0.2.0"),
        .package(url: "https://github.com/vapor/postgres-nio", from: "1.33.2"),
        .package(url: "https://github.com/apple/swift-nio", from: "2.101.2"),
    ],
    targets: [
        .target(name: "CreditCore"),
        .target(name: "CreditTrace", dependencies: ["CreditCore"]),
        .target(name: "CreditEngine", dependencies: ["CreditCore"]),
        // The CPU's CRC-32C instruction, which Swift cannot name (Sources/CCRC32C).
        .target(name: "CCRC32C"),
        .target(name: "CreditJournal", dependencies: ["CreditCore", "CreditTrace", "CCRC32C"]),
        .target(name: "CreditDurable", dependencies: ["CreditCore", "CreditEngine", "CreditJournal"]),
        .target(
            name: "CreditLoad",
            dependencies: [
                "CreditCore", "CreditEngine", "CreditJournal", "CreditDurable",
                .product(name: "Histogram", package: "hdrhistogram-swift"),
                .product(name: "PostgresNIO", package: "postgres-nio"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
            ]
        ),
        // jemalloc's malloc replaces glibc's in the executable; build with
        // `--disable-default-traits` to keep glibc malloc.
        .systemLibrary(name: "CJemalloc", pkgConfig: "jemalloc", providers: [.apt(["libjemalloc-dev"])]),
        .executableTarget(
            name: "creditmeter",
            dependencies: [
                "CreditCore", "CreditTrace", "CreditEngine", "CreditJournal", "CreditDurable", "CreditLoad",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
                .target(name: "CJemalloc", condition: .when(traits: ["Jemalloc"])),
            ]
        ),
        .testTarget(name: "CreditCoreTests", dependencies: ["CreditCore"]),
        .testTarget(name: "CreditTraceTests", dependencies: ["CreditCore", "CreditTrace"]),
        .testTarget(name: "CreditEngineTests", dependencies: ["CreditCore", "CreditTrace", "CreditEngine"]),
        // Fixtures/: files the tests read by path (a snapshot of an earlier format version).
        .testTarget(
            name: "CreditJournalTests", dependencies: ["CreditCore", "CreditTrace", "CreditJournal"],
            exclude: ["Fixtures"]),
        .testTarget(name: "CreditDurableTests", dependencies: ["CreditCore", "CreditEngine", "CreditJournal", "CreditDurable"]),
        .testTarget(name: "CreditLoadTests", dependencies: ["CreditCore", "CreditEngine", "CreditDurable", "CreditLoad"]),
    ]
)

// Benchmarks (ordo-one/package-benchmark) are built only when asked for, so that `swift test`
// and CI stay fast: `CREDITMETER_BENCHMARKS=1 swift package benchmark` (scripts/bench-engine.sh).
if Context.environment["CREDITMETER_BENCHMARKS"] != nil {
    package.dependencies.append(
        .package(url: "https://github.com/ordo-one/benchmark.git", from: "1.38.1", traits: ["MallocInterposer"]))
    package.targets.append(
        .executableTarget(
            name: "EngineBenchmarks",
            dependencies: [
                "CreditCore", "CreditEngine",
                .product(name: "Benchmark", package: "benchmark"),
            ],
            path: "Benchmarks/EngineBenchmarks",
            plugins: [.plugin(name: "BenchmarkPlugin", package: "benchmark")]
        ))
}
