#!/usr/bin/env bash
# Replay throughput: builds a release binary, generates a seeded random trace, and replays it
# several times; prints each run's wall time and the median's lines per second.
# Usage: scripts/bench-replay.sh [LINES (1000000)] [ACCOUNTS (1000)] [RUNS (5)] [SEED (7)]
set -euo pipefail
cd "$(dirname "$0")/.."
lines=${1:-1000000}
accounts=${2:-1000}
runs=${3:-5}
seed=${4:-7}
swift build -c release --product creditmeter >/dev/null
bin=.build/release/creditmeter
trace=$(mktemp /tmp/creditmeter-trace.XXXXXX)
trap 'rm -f "$trace"' EXIT
"$bin" generate --seed "$seed" --lines "$lines" --accounts "$accounts" >"$trace"
times=()
for _ in $(seq "$runs"); do
  start=$(date +%s%N)
  "$bin" replay "$trace" >/dev/null
  end=$(date +%s%N)
  times+=($(( (end - start) / 1000000 )))
done
sorted=($(printf '%s\n' "${times[@]}" | sort -n))
median=${sorted[$(( runs / 2 ))]}
echo "replay of $lines lines ($accounts accounts, seed $seed): runs ${times[*]} ms; median $median ms"
echo "median throughput: $(( lines * 1000 / median )) lines/s"
