// `creditmeter generate`: writes a seeded random trace to standard output.
import ArgumentParser
import CreditTrace

struct GenerateCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "generate",
        abstract: "Write a reproducible random trace (a gateway's traffic over many accounts) to standard output."
    )

    @Option(help: "The seed: the same seed and options give the same trace.")
    var seed: UInt64 = 1

    @Option(help: "Lines to write (1 ... 100,000,000), set-up lines included.")
    var lines: Int = 1_000_000

    @Option(help: "Accounts to spread the traffic over (1 ... 10,000,000).")
    var accounts: Int = 1000

    /// The most lines one run writes.
    static let linesMax = 100_000_000

    func validate() throws {
        guard (1...Self.linesMax).contains(lines) else { throw ValidationError("--lines must be 1 ... \(Self.linesMax)") }
        guard (1...TraceGenerator.accountCountMax).contains(accounts) else {
            throw ValidationError("--accounts must be 1 ... \(TraceGenerator.accountCountMax)")
        }
        guard accounts * 2 + 1 <= lines else { throw ValidationError("--lines must cover the set-up: 2 * accounts + 1") }
    }

    func run() throws {
        var generator = TraceGenerator(seed: seed, accountCount: accounts)
        var output = StandardOutput()
        for _ in 0..<lines {
            generator.appendLine(to: &output.buffer)
            if output.buffer.count >= ReplayCommand.outputFlushBytes { try output.flush() }
        }
        try output.flush()
    }
}
