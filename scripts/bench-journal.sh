#!/usr/bin/env bash
# Journal benchmarks (release build, wall clock, one machine; not a unit test):
#  1. durable and buffered replay throughput against in-memory replay on the same trace
#     (LINES lines, 1,000 accounts; median of RUNS), with fdatasyncs per second;
#  2. snapshots of 1,000,000 accounts: time to write one, and the stall of the applying
#     thread while one is taken (copy, then copy-on-write in the next 1,000 lines);
#  3. recovery with 1,000,000 accounts: (a) of a directory filled with RECORDS records
#     under the default snapshot policy, (b) the worst case, 2N - 1 records after the newest
#     snapshot, (c) the raw replay rate of journal records (records/s of the journal part).
# Usage: scripts/bench-journal.sh [LINES (1000000)] [RUNS (3)] [RECORDS (10000000)]
# SNAPSHOT_EVERY: the snapshot interval N of the recovery figures (default: replay's, 1000000).
# STALL_SNAPSHOT_EVERY: the interval of section 2 (default 1000000). With 1000000, the second
#   copy comes 2 lines before the trace's first reserve (line 2,010,022), which counts among
#   "the 1,000 lines after a copy": measured 450-490 us CPU, most of it copying the roots of
#   the then nearly empty event and deadline tables (first-use costs, not copy work);
#   900000 keeps every copy away from the first reserve.
# BENCH_SKIP_THROUGHPUT=1 / BENCH_SKIP_SNAPSHOT=1 skip sections 1 and 2.
# CREDITMETER_BINARY selects the binary (default: a release build of this package);
# BENCH_DIR the scratch directory (default /tmp; it needs ~3 GB for 10M records).
set -euo pipefail
cd "$(dirname "$0")/.."
lines=${1:-1000000}
runs=${2:-3}
records=${3:-10000000}
if [[ -n "${CREDITMETER_BINARY:-}" ]]; then
  bin=$CREDITMETER_BINARY
else
  swift build -c release --product creditmeter >/dev/null
  bin=$(swift build -c release --show-bin-path)/creditmeter
fi
work=$(mktemp -d "${BENCH_DIR:-/tmp}/creditmeter-bench.XXXXXX")
trap 'rm -rf "$work"' EXIT
median() { printf '%s\n' "$@" | sort -n | sed -n "$(( ($# + 1) / 2 ))p"; }
ms() { echo $(( ($(date +%s%N) - $1) / 1000000 )); }

if [[ -z "${BENCH_SKIP_THROUGHPUT:-}" ]]; then
echo "== throughput: $lines lines, 1000 accounts, median of $runs"
"$bin" generate --seed 7 --lines "$lines" --accounts 1000 >"$work/trace.jsonl"
memory=() durable=() buffered=()
for _ in $(seq "$runs"); do
  start=$(date +%s%N); "$bin" replay "$work/trace.jsonl" >/dev/null; memory+=($(ms "$start"))
  rm -rf "$work/d"; start=$(date +%s%N)
  "$bin" replay --data-dir "$work/d" --stats "$work/trace.jsonl" >/dev/null 2>"$work/durable.stats"; durable+=($(ms "$start"))
  rm -rf "$work/b"; start=$(date +%s%N)
  "$bin" replay --data-dir "$work/b" --mode buffered --max-delay-ms 10 --stats "$work/trace.jsonl" >/dev/null 2>"$work/buffered.stats"
  buffered+=($(ms "$start"))
done
m=$(median "${memory[@]}"); d=$(median "${durable[@]}"); b=$(median "${buffered[@]}")
echo "in-memory: ${memory[*]} ms, median $m ms, $(( lines * 1000 / m )) lines/s"
echo "durable:   ${durable[*]} ms, median $d ms, $(( lines * 1000 / d )) lines/s, $(( m * 100 / d ))% of in-memory"
grep journal "$work/durable.stats"
echo "buffered:  ${buffered[*]} ms, median $b ms, $(( lines * 1000 / b )) lines/s, $(( m * 100 / b ))% of in-memory"
grep journal "$work/buffered.stats"
fi

if [[ -z "${BENCH_SKIP_SNAPSHOT:-}" ]]; then
stall_every=${STALL_SNAPSHOT_EVERY:-1000000}
echo "== snapshots of 1,000,000 accounts (4,000,000 lines, a snapshot every $stall_every records)"
"$bin" generate --seed 7 --lines 4000000 --accounts 1000000 >"$work/big.jsonl"
rm -rf "$work/s"
"$bin" replay --data-dir "$work/s" --snapshot-every "$stall_every" --stats "$work/big.jsonl" >/dev/null 2>"$work/snap.stats"
cat "$work/snap.stats"
fi

# Recovery (its directories are ra, rb, rc: the throughput section used a and b) (format 2: binary records, streamed segments; snapshot policy of replay's default,
# --snapshot-every N with at most 2N records after the newest published snapshot).
interval=${SNAPSHOT_EVERY:-1000000}
lines_a=$(( records + records / 200 ))
tail_b=$(( 2 * interval - 1 ))
echo "== recovery (a): 1,000,000 accounts, $lines_a lines (~$records records), default policy (--snapshot-every $interval)"
"$bin" generate --seed 7 --lines $(( lines_a + tail_b )) --accounts 1000000 >"$work/full.jsonl"
head -n "$lines_a" "$work/full.jsonl" >"$work/huge.jsonl"
rm -rf "$work/ra"; start=$(date +%s%N)
"$bin" replay --data-dir "$work/ra" --mode buffered --max-delay-ms 10 --snapshot-every "$interval" --stats "$work/huge.jsonl" >/dev/null 2>"$work/a.stats"
echo "filling run: $(ms "$start") ms wall"; grep -E "lines applied|journal|snapshots" "$work/a.stats"
"$bin" inspect "$work/ra" | grep -E "snapshot:|journal records|last applied"
rm -rf "$work/rb"; cp -r "$work/ra" "$work/rb"
sync; sleep 2   # the copy's writeback would otherwise run beside the timed recovery
start=$(date +%s%N)
"$bin" replay --data-dir "$work/ra" --snapshot-every "$interval" --stats "$work/huge.jsonl" >/dev/null 2>"$work/recover-a.stats"
echo "(a) recovery run (recover, check the trace's $lines_a lines, nothing left to apply): $(ms "$start") ms wall"
grep recovery "$work/recover-a.stats"
echo "== recovery (b): worst case, a snapshot of the state after (a) + $tail_b lines (2N - 1) after it"
"$bin" replay --data-dir "$work/rb" --snapshot-every 1 "$work/huge.jsonl" >/dev/null   # folds the tail: a snapshot at the end
"$bin" replay --data-dir "$work/rb" --mode buffered --snapshot-every 0 "$work/full.jsonl" >/dev/null
"$bin" inspect "$work/rb" | grep -E "snapshot:|journal records|last applied"
rm -rf "$work/rc"; cp -r "$work/rb" "$work/rc"
sync; sleep 2
start=$(date +%s%N)
"$bin" replay --data-dir "$work/rb" --snapshot-every "$interval" --stats "$work/full.jsonl" >/dev/null 2>"$work/recover-b.stats"
echo "(b) recovery run (recover, check the trace, fold the tail into a snapshot): $(ms "$start") ms wall"
grep -E "recovery|snapshots" "$work/recover-b.stats"
echo "== (c) raw replay rate of journal records without snapshots: (b)'s $tail_b-line tail again, no fold"
start=$(date +%s%N)
"$bin" replay --data-dir "$work/rc" --snapshot-every 0 --stats "$work/full.jsonl" >/dev/null 2>"$work/recover-c.stats"
echo "(c) recovery run: $(ms "$start") ms wall"
grep recovery "$work/recover-c.stats"
