// The cost of each insertion into one IdentityTable (find, then insert) as it grows to 20M
// short ids ("r123456"), and the rate of look-ups of present keys afterwards. The point is the
// longest single insertion: a table that doubles its slots at once stalls one insertion for
// the whole rehoming. Built against a given IdentityTable.swift (and what it needs) by
// scripts/bench-identity-growth.sh, so that two versions can be compared side by side.
// usage: bench [COUNT] [COPY_EVERY] [PRETOUCH_GIB]: with COPY_EVERY (not 0), a copy of the
// table is taken (and the previous one released, outside the timed part) every COPY_EVERY
// insertions, as the ledger is copied for a snapshot, so that insertions pay their first
// writes after a copy. With PRETOUCH_GIB, that much memory is written and unmapped first: on
// this VM the first touch of memory the process never had costs ~200 µs a page fault at times
// (measured: the slow insertions were those that faulted), which a long-running server pays
// once, not per growth.
import Glibc

@inline(__always) func nanos(_ clock: clockid_t) -> Int {
    var ts = timespec()
    clock_gettime(clock, &ts)
    return ts.tv_sec * 1_000_000_000 + ts.tv_nsec
}

let arguments = CommandLine.arguments
let count = arguments.count > 1 ? Int(arguments[1])! : 20_000_000
let copyEvery = arguments.count > 2 ? Int(arguments[2])! : 0
let pretouchGiB = arguments.count > 3 ? Int(arguments[3])! : 0
if pretouchGiB > 0 {
    let bytes = pretouchGiB << 30
    let memory = mmap(nil, bytes, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0)!
    precondition(memory != MAP_FAILED, "pretouch memory mapped")
    memset(memory, 1, bytes)
    munmap(memory, bytes)
}

var table = IdentityTable()
var held: IdentityTable? = nil
var cpuTimes = [Int32](repeating: 0, count: count)
var wallTimes = [Int32](repeating: 0, count: count)
var sink = 0
let startWall = nanos(CLOCK_MONOTONIC)
let startCPU = nanos(CLOCK_THREAD_CPUTIME_ID)
for i in 0..<count {
    if copyEvery > 0 && i % copyEvery == 0 { held = table }
    let key = "r\(i)"
    let wall0 = nanos(CLOCK_MONOTONIC)
    let cpu0 = nanos(CLOCK_THREAD_CPUTIME_ID)
    let lookup = table.find(key)
    precondition(lookup.index == nil, "distinct keys")
    sink &+= Int(table.insert(key, at: lookup))
    let cpu1 = nanos(CLOCK_THREAD_CPUTIME_ID)
    let wall1 = nanos(CLOCK_MONOTONIC)
    cpuTimes[i] = Int32(clamping: cpu1 - cpu0)
    wallTimes[i] = Int32(clamping: wall1 - wall0)
}
let totalWall = nanos(CLOCK_MONOTONIC) - startWall
let totalCPU = nanos(CLOCK_THREAD_CPUTIME_ID) - startCPU
if held != nil { sink &+= held!.count }
precondition(table.count == count, "every key inserted")

func report(_ name: String, _ times: [Int32]) {
    let longest = times.indices.max { times[$0] < times[$1] }!
    let sorted = times.sorted()
    func percentile(_ p: Double) -> Double { Double(sorted[min(sorted.count - 1, Int(p * Double(sorted.count)))]) / 1000 }
    let over100 = times.lazy.filter { $0 > 100_000 }.count
    let over1000 = times.lazy.filter { $0 > 1_000_000 }.count
    print("  \(name): longest \(Double(times[longest]) / 1000) µs (insertion \(longest)), p99.99 \(percentile(0.9999)) µs, p99.9 \(percentile(0.999)) µs, p50 \(percentile(0.5)) µs, \(over100) over 100 µs, \(over1000) over 1 ms")
    // The five longest with their insertion numbers: a growth's stall recurs at the same
    // insertions (powers of two) from run to run, another process's interference does not.
    let top = times.indices.sorted { times[$0] > times[$1] }.prefix(5)
    print("    longest five: " + top.map { "\(times[$0] / 1000) µs at \($0)" }.joined(separator: ", "))
}
print("insert \(count) ids\(copyEvery > 0 ? ", a copy every \(copyEvery)" : "")\(pretouchGiB > 0 ? ", \(pretouchGiB) GiB pretouched" : ""): \(totalWall / 1_000_000) ms wall (timing included), \(totalCPU / 1_000_000) ms thread CPU")
report("thread CPU", cpuTimes)
report("wall", wallTimes)
cpuTimes = []
wallTimes = []
held = nil

// Look-ups of present keys in a pseudo-random order (a multiplicative step modulo count).
var lookups = min(count, 5_000_000)
var position = 0
let step = 2_654_435_761 % count
let keys = (0..<lookups).map { _ in
    position = (position + step) % count
    return "r\(position)"
}
let lookupStart = nanos(CLOCK_MONOTONIC)
for key in keys { sink &+= Int(table[key]!) }
let lookupNanos = nanos(CLOCK_MONOTONIC) - lookupStart
print("look-ups of present keys: \(lookups * 1_000_000_000 / max(1, lookupNanos) / 1000) k/s (\(lookups) in \(lookupNanos / 1_000_000) ms)")
if sink == 42 { print("") }
