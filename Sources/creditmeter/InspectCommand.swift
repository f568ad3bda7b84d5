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
        let snapshotBody: SnapshotBuffer
        do {
            (scan, snapshotBody) = try JournalRecovery.scan(directory: directory, fileSystem: fileSystem, keepBatches: batches)
        } catch {
            print("checksums: BAD: \(error)")
            throw ExitCode.failure
        }
        print("format: \(JournalFormat.formatVersion)")
        if let name = scan.snapshotName {
            var summary = "snapshot: \(name), covers lines 1...\(scan.snapshotLine), \(scan.snapshotBodyBytes) bytes"
            do {
                let ledger = try Ledger(snapshot: snapshotBody)
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
            recordCount += segment.recordCount
            let lines = segment.firstLine.map { "lines \($0)...\(segment.lastLine!)" } ?? "no lines"
            var summary = "segment: \(name), \(segment.batchCount) batches, \(segment.recordCount) records, \(lines), \(segment.validBytes) valid bytes"
            if segment.tornBytes > 0 { summary += ", torn tail of \(segment.tornBytes) bytes (cut off at the next replay)" }
            print(summary)
            for batch in segment.batches {
                print("  batch at \(batch.offset): lines \(batch.firstLine)...\(batch.lastLine), \(batch.recordCount) records")
            }
        }
        print("journal records: \(recordCount) (\(scan.recordCountAfterSnapshot) after the snapshot)")
        print("last applied line: \(scan.lastLine)")
        print("trace lines 1...\(scan.lastLine): \(scan.trace)")
        print("checksums: ok")
    }
}
