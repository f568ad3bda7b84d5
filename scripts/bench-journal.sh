#!/usr/bin/env bash
# Journal benchmarks (release build, wall clock, one machine; not a unit test):
#  1. durable and buffered replay throughput against in-memory replay on the same trace
#     (LINES lines, 1,000 accounts; median of RUNS), with fdatasyncs per second;
#  2. snapshots of 1,000,000 accounts: time to write one, and the stall of the applying
#     thread while one is taken (copy, then copy-on-write in the next 1,000 lines);
#  3. recovery of 1,000,000 accounts (a snapshot) + RECORDS journal records after it.
# Usage: scripts/bench-journal.sh [LINES (1000000)] [RUNS (3)] [RECORDS (10000000)]
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

echo "== snapshots of 1,000,000 accounts (4,000,000 lines, a snapshot every 1,000,000 records)"
"$bin" generate --seed 7 --lines 4000000 --accounts 1000000 >"$work/big.jsonl"
rm -rf "$work/s"
"$bin" replay --data-dir "$work/s" --snapshot-every 1000000 --stats "$work/big.jsonl" >/dev/null 2>"$work/snap.stats"
cat "$work/snap.stats"

echo "== recovery: 1,000,000 accounts in a snapshot + $records records after it"
total=$(( 2000001 + records ))
"$bin" generate --seed 7 --lines "$total" --accounts 1000000 >"$work/huge.jsonl"
head -n 2000001 "$work/huge.jsonl" >"$work/setup.jsonl"
rm -rf "$work/r"
"$bin" replay --data-dir "$work/r" --snapshot-every 0 --snapshot-at-end "$work/setup.jsonl" >/dev/null
"$bin" replay --data-dir "$work/r" --snapshot-every 0 --stats "$work/huge.jsonl" >/dev/null 2>"$work/fill.stats"
grep -E "lines applied|journal" "$work/fill.stats"
"$bin" inspect "$work/r" | grep -E "snapshot:|journal records|last applied"
start=$(date +%s%N)
"$bin" replay --data-dir "$work/r" --stats "$work/huge.jsonl" >/dev/null 2>"$work/recover.stats"
echo "recovery run (recover, then nothing left to apply): $(ms "$start") ms wall"
grep recovery "$work/recover.stats"
