// kill -9 of a child `creditmeter replay --data-dir` at random moments, resuming each time:
// every line printed equals the uninterrupted run's line for that trace line, no line is
// printed twice, and the final state equals the uninterrupted run's (compared as snapshot
// bytes, which hold every balance, report figure and event). `KILL_TEST_KILLS` sets the
// number of kills (default 100); the seed is printed on failure.

import CreditCore
import CreditJournal
import CreditTrace
import Testing

#if canImport(Darwin)
    import Darwin
#else
    import Glibc
#endif

/// The built `creditmeter` next to the test bundle (`swift test` builds every product), or
/// `CREDITMETER_BINARY`.
func creditmeterBinary() -> String? {
    if let explicit = getenv("CREDITMETER_BINARY") { return String(cString: explicit) }
    var buffer = [CChar](repeating: 0, count: 4096)
    let length = readlink("/proc/self/exe", &buffer, buffer.count - 1)
    guard length > 0 else { return nil }
    var path = String(decoding: buffer[0..<length].map { UInt8(bitPattern: $0) }, as: UTF8.self)
    // /proc/self/exe is .../debug/CreditMeterPackageTests.xctest (or a runner inside it).
    while !path.isEmpty {
        path = String(path[..<(path.lastIndex(of: "/") ?? path.startIndex)])
        let candidate = path + "/creditmeter"
        if access(candidate, X_OK) == 0 { return candidate }
    }
    return nil
}

/// Runs `arguments` with stdout and stderr to files; returns its pid.
func spawn(_ arguments: [String], stdout: String, stderr: String) -> pid_t {
    var actions = posix_spawn_file_actions_t()
    posix_spawn_file_actions_init(&actions)
    defer { posix_spawn_file_actions_destroy(&actions) }
    posix_spawn_file_actions_addopen(&actions, 1, stdout, O_WRONLY | O_CREAT | O_TRUNC, 0o644)
    posix_spawn_file_actions_addopen(&actions, 2, stderr, O_WRONLY | O_CREAT | O_TRUNC, 0o644)
    var argv: [UnsafeMutablePointer<CChar>?] = arguments.map { strdup($0) } + [nil]
    defer { for pointer in argv { free(pointer) } }
    var pid: pid_t = 0
    let result = posix_spawn(&pid, arguments[0], &actions, nil, &argv, environ)
    precondition(result == 0, "posix_spawn \(arguments[0]): \(result)")
    return pid
}

@Suite struct KillTests {
    @Test func killNineAtRandomMomentsAndResume() throws {
        guard let binary = creditmeterBinary() else {
            Issue.record("creditmeter binary not found next to the test bundle; set CREDITMETER_BINARY")
            return
        }
        let kills = getenv("KILL_TEST_KILLS").flatMap { Int(String(cString: $0)) } ?? 100
        let seed = getenv("KILL_TEST_SEED").flatMap { UInt64(String(cString: $0)) } ?? UInt64(time(nil))
        var random = SeededRandom(seed: seed)
        let expected = ExpectedTrace(seed: seed % 1000, lineCount: 30_000, accountCount: 300)
        let directory = ScratchDirectory("kill")
        defer { directory.remove() }
        directory.write("trace.jsonl", expected.text)
        let arguments = [
            binary, "replay", "--data-dir", directory.file("data"), "--snapshot-every", "4000",
            directory.file("trace.jsonl"),
        ]
        // Output of lines start...end must be printed in order, as the uninterrupted run did.
        var killCount = 0
        var runCount = 0
        var nextUnprinted = 1
        var finished = false
        let runsMax = kills * 4 + 100
        while !finished {
            runCount += 1
            try #require(runCount <= runsMax, "seed \(seed): too many runs")
            let pid = spawn(arguments, stdout: directory.file("out"), stderr: directory.file("err"))
            var killed = false
            if killCount < kills {
                // Early deaths (recovery, first batches) are as interesting as late ones.
                usleep(UInt32(Int.random(in: 0...60_000, using: &random)))
                killed = kill(pid, SIGKILL) == 0
            }
            var status: Int32 = 0
            while waitpid(pid, &status, 0) < 0 && errno == EINTR {}
            let exitedNormally = status & 0x7F == 0
            if exitedNormally && (status >> 8) & 0xFF != 0 {
                Issue.record("seed \(seed): run \(runCount) failed: \(String(decoding: directory.read("err"), as: UTF8.self))")
                return
            }
            if killed && !exitedNormally { killCount += 1 }
            finished = exitedNormally
            let printed = directory.read("out")
            let log = String(decoding: directory.read("err"), as: UTF8.self)
            let resumed = log.split(separator: "\n").compactMap { line in
                line.hasPrefix("resuming at line ") ? Int(line.dropFirst("resuming at line ".count)) : nil
            }.first
            // Killed before it said where it resumes: it printed nothing either.
            if resumed == nil && nextUnprinted > 1 {
                #expect(printed.isEmpty, "seed \(seed): run \(runCount) printed without saying where it resumed")
                #expect(!finished, "seed \(seed): run \(runCount) finished without saying where it resumed")
                continue
            }
            let start = resumed ?? 1
            #expect(start >= nextUnprinted, "seed \(seed): run \(runCount) resumed at \(start), line \(nextUnprinted - 1) was printed")
            // Match printed output line by line against the expected outputs from `start`.
            var offset = 0
            var line = start
            while offset < printed.count && line <= expected.outputs.count {
                let want = expected.outputs[line - 1]
                let have = printed[offset..<min(printed.count, offset + want.count)]
                guard have.elementsEqual(want) else {
                    // A kill may cut the last write short: a prefix of the expected output is fine.
                    #expect(
                        offset + want.count > printed.count && want.starts(with: have),
                        "seed \(seed): run \(runCount), trace line \(line) printed differently")
                    if !(offset + want.count > printed.count && want.starts(with: have)) { return }
                    line += 1
                    break
                }
                offset += want.count
                line += 1
            }
            if offset < printed.count && line > expected.outputs.count {
                Issue.record("seed \(seed): run \(runCount) printed more than the trace's output")
                return
            }
            nextUnprinted = max(nextUnprinted, printed.isEmpty ? start : line)
            if finished {
                #expect(line == expected.outputs.count + 1 || printed.isEmpty && start == expected.outputs.count + 1)
            }
        }
        #expect(killCount >= min(kills, 1), "seed \(seed): only \(killCount) kills landed")
        let recovered = try JournalRecovery.recover(directory: directory.file("data"), fileSystem: POSIXFileSystem(), repair: false)
        #expect(recovered.ledger.snapshotBytes() == expected.finalLedger.snapshotBytes(), "seed \(seed): final state differs")
        var a = TraceReplayer(ledger: recovered.ledger)
        var b = TraceReplayer(ledger: expected.finalLedger)
        let report = "{\"op\":\"report\",\"t\":\(expected.finalLedger.lastTime)}\n{\"op\":\"balance\",\"t\":\(expected.finalLedger.lastTime),\"account\":\"acct1\"}\n"
        #expect(a.replay(text: report) == b.replay(text: report))
        print("kill test: seed \(seed), \(killCount) kills, \(runCount) runs")
    }
}
