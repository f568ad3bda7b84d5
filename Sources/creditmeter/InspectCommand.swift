// `creditmeter inspect DIR`: what a journal directory holds, read-only: the snapshot, the
// segments and their batches and records, the last durable trace line, checksum status.
import ArgumentParser
import CreditCore
import CreditJournal

struct InspectCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "inspect",
        abstract: "Print what a --data-dir holds: snapshot, journal records, last applied line, checksum status."
    )

    @Argument(help: "The directory given to replay --data-dir.")
    var directory: String

    @Flag(help: "Also list every batch.")
    var batches = false

    func run() throws {
        let fileSystem = POSIXFileSystem()
        let scan: JournalDirectoryScan
        do { scan = try JournalRecovery.scan(directory: directory, fileSystem: fileSystem) } catch {
            print("checksums: BAD: \(error)")
            throw ExitCode.failure
        }
        if let name = scan.snapshotName {
            var summary = "snapshot: \(name), covers lines 1...\(scan.snapshotLine), \(scan.snapshotBytes.count) bytes"
            do {
                let ledger = try Ledger(snapshotBytes: scan.snapshotBytes)
                summary += ", \(ledger.accountCount) accounts, \(ledger.acceptedRequestCount) requests accepted, checksum ok"
            } catch {
                print(summary + ", checksum ok but does not decode: \(error)")
                throw ExitCode.failure
            }
            print(summary)
        } else {
            print("snapshot: none")
        }
        for name in scan.olderSnapshotNames { print("older snapshot (to be removed): \(name)") }
        var recordCount = 0
        for (name, segment) in scan.segments {
            let records = segment.batches.reduce(0) { $0 + $1.records.count }
            recordCount += records
            let lines = segment.batches.isEmpty
                ? "no lines" : "lines \(segment.batches.first!.firstLine)...\(segment.batches.last!.lastLine)"
            var summary = "segment: \(name), \(segment.batches.count) batches, \(records) records, \(lines), \(segment.validBytes) valid bytes"
            if segment.tornBytes > 0 { summary += ", torn tail of \(segment.tornBytes) bytes (cut off at the next replay)" }
            print(summary)
            if batches {
                for batch in segment.batches {
                    print("  batch at \(batch.offset): lines \(batch.firstLine)...\(batch.lastLine), \(batch.records.count) records")
                }
            }
        }
        print("journal records: \(recordCount) (\(scan.recordCountAfterSnapshot) after the snapshot)")
        print("last applied line: \(scan.lastLine)")
        print("checksums: ok")
    }
}
