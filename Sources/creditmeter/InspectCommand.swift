// `creditmeter inspect`: placeholder until the journal (issue 5) lands.
import ArgumentParser

struct InspectCommand: ParsableCommand {
    static let configuration = CommandConfiguration(commandName: "inspect", abstract: "Not available yet (issue 5).")
    func run() throws { throw ValidationError("creditmeter inspect is not available yet") }
}
