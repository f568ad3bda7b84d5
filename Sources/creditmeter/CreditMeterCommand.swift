// The `creditmeter` command-line tool: replay of JSON-lines traces (more subcommands come
// with the engine, the journal and the load harness).
import ArgumentParser

@main
struct CreditMeterCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "creditmeter",
        abstract: "An exact credit-metering engine for AI gateways.",
        subcommands: [
            ReplayCommand.self, GenerateCommand.self, LoadCommand.self, InspectCommand.self, VersionCommand.self,
        ]
    )
}

/// `creditmeter version`: the build's allocator.
struct VersionCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "version", abstract: "Print the tool's allocator (jemalloc or glibc malloc).")
    func run() { print("creditmeter, allocator: \(Allocator.name)") }
}
