#!/usr/bin/env bash
# The engine's concurrency tests (stress mixes on 2, 4 and 8 threads, and the linearizability
# check of 400 recorded histories) and the durable engine's (threads over striped locks and
# the concurrent journal, in memory and on disk, with snapshots taken during the traffic), and
# the ledger's snapshots (decoded on two threads), and the durable replay (its snapshot thread)
# under Thread Sanitizer, in a release build
# with testing enabled (debug TSan builds missed real races on this toolchain: ENVIRONMENT.md).
# The durable engine's tests run with TSan's lock-order (deadlock) detector off: a rates or
# tick request holds all 1,024 stripe mutexes at once, and the detector, which tracks every
# pair of held locks, then runs for many minutes; data races are still checked.
set -euo pipefail
cd "$(dirname "$0")/.."
log=$(mktemp)
trap 'rm -f "$log"' EXIT
# run FILTER [TSAN_OPTIONS]: the tests matching FILTER under TSan, appended to the log.
run() {
  TSAN_OPTIONS="${2:-}" swift test -c release --sanitize=thread -Xswiftc -enable-testing --scratch-path .build-tsan \
    --filter "$1" 2>&1 | tee -a "$log" | grep -E 'Test run with|✘|WARNING: ThreadSanitizer' || true
}
run 'EngineStressTests|LinearizabilityTests|LedgerSnapshotTests|SnapshotFormatVersionTests|DurableReplayTests'
run 'DurableEngineTests|DurableSnapshotTests' detect_deadlocks=0
if grep -q 'WARNING: ThreadSanitizer' "$log"; then
  echo "tsan: races reported (details: rerun and read the full output)" >&2
  exit 1
fi
[[ $(grep -c '✔ Test run with' "$log") -eq 2 ]] || { echo "tsan: the tests did not pass" >&2; exit 1; }
echo "tsan: no race reported"
