// The cost of the first writes after a copy, and of reads, for ChunkedArray alone (no
// ledger, no parsing, no snapshot thread): four tables shaped like the ledger's with
// 1,000,000 accounts, copied 25 times; after each copy the caches are flushed (256 MiB read)
// and one "line" writes one element of each table, then 999 more lines write random elements
// (and append to the last table). Thread CPU time. Built against a given ChunkedArray.swift
// by scripts/bench-chunked.sh, so that two versions can be compared side by side.
import Glibc

struct Record { var a: SIMD32<Int64> = .zero; var b: SIMD4<Int64> = .zero }  // 288 bytes, like an account

@inline(never) func cpuNanos() -> Int {
    var ts = timespec(); clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts); return ts.tv_sec * 1_000_000_000 + ts.tv_nsec
}
struct Split { var s: UInt64; mutating func next() -> Int { s &+= 0x9E3779B97F4A7C15; var z = s; z = (z ^ (z >> 30)) &* 0xBF58476D1CE4E5B9; z = (z ^ (z >> 27)) &* 0x94D049BB133111EB; return Int(truncatingIfNeeded: (z ^ (z >> 31)) >> 1) } }
var r = Split(s: 42)

let n = 1_000_000
var accounts = ChunkedArray<Record>()
for i in 0..<n { var x = Record(); x.a[0] = Int64(i); accounts.append(x) }
var slots = ChunkedArray<SIMD2<Int64>>(repeating: .zero, count: 2 * 1_048_576)
var keys = ChunkedArray<Int>()
for i in 0..<n { keys.append(i) }
var events = ChunkedArray<SIMD8<Int64>>()   // 64-byte records, 3M
for _ in 0..<3_000_000 { events.append(.zero) }

let evictBytes = 256 << 20
let evict = UnsafeMutablePointer<Int>.allocate(capacity: evictBytes / 8)
evict.initialize(repeating: 1, count: evictBytes / 8)
@inline(never) func flush(_ evict: UnsafeMutablePointer<Int>) -> Int { var s = 0; var i = 0; while i < (256 << 20) / 8 { s &+= evict[i]; i += 8 }; return s }

func med(_ a: [Int]) -> Int { a.sorted()[a.count / 2] }
var parts: [[Int]] = [[], [], [], []]
var firsts: [Int] = [], maxes: [Int] = [], totals: [Int] = []
var sink = 0
for _ in 0..<25 {
    let s1 = accounts, s2 = slots, s3 = keys, s4 = events
    sink &+= flush(evict)
    var t = cpuNanos()
    // The first "line": one write to each table.
    accounts[r.next() % n].b[0] += 1
    let ta = cpuNanos()
    slots[r.next() % slots.count][0] += 1
    let tb = cpuNanos()
    keys[r.next() % n] += 1
    let tc = cpuNanos()
    events[r.next() % events.count][0] += 1
    var now = cpuNanos()
    firsts.append(now - t)
    parts[0].append(ta - t); parts[1].append(tb - ta); parts[2].append(tc - tb); parts[3].append(now - tc)
    var maxLine = 0, total = now - t
    for _ in 0..<999 {
        t = now
        accounts[r.next() % n].b[0] += 1
        slots[r.next() % slots.count][0] += 1
        keys[r.next() % n] += 1
        events.append(.zero)
        now = cpuNanos()
        maxLine = max(maxLine, now - t); total += now - t
    }
    maxes.append(maxLine); totals.append(total)
    let v1: Int64 = s1[7].a[0]
    let v2: Int64 = s2[9][0]
    let v4: Int64 = s4[5][0]
    sink &+= Int(v1 &+ v2 &+ v4) &+ s3[3]
}
print("parts us (accounts, slots, keys, events) medians: \(parts.map { med($0) / 1000 })")
print("first line us: median \(med(firsts)/1000) min \(firsts.min()!/1000) max \(firsts.max()!/1000); later-line max us median \(med(maxes)/1000); 1000 lines total us median \(med(totals)/1000)")

// Reads: random and sequential, no snapshot.
var best = Int.max, bestSeq = Int.max
for _ in 0..<5 {
    var t = cpuNanos(); var s: Int64 = 0
    for _ in 0..<2_000_000 {
        let a: Int64 = accounts[r.next() % n].a[0]
        let k: Int = keys[r.next() % n]
        s &+= a &+ Int64(k)
    }
    best = min(best, cpuNanos() - t); sink &+= Int(s)
    t = cpuNanos(); s = 0
    for i in 0..<n {
        let a: Int64 = accounts[i].a[0]
        s &+= a &+ Int64(keys[i])
    }
    bestSeq = min(bestSeq, cpuNanos() - t); sink &+= Int(s)
}
print("reads: 2M random account+key reads best \(best/1_000_000) ms; 1M sequential best \(bestSeq/1_000_000) ms (sink \(sink & 1))")
