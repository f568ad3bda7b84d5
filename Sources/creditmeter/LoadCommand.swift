// `creditmeter load`: placeholder until the load harness (issue 6) lands.
import ArgumentParser

struct LoadCommand: ParsableCommand {
    static let configuration = CommandConfiguration(commandName: "load", abstract: "Not available yet (issue 6).")
    func run() throws { throw ValidationError("creditmeter load is not available yet") }
}
