#!/usr/bin/env bash
# Crash test of `creditmeter replay --data-dir`: kill -9 at random moments (KILLS, default
# 1000), resuming each time; checks that every printed line equals the uninterrupted run's
# line for that trace line, that no line is printed twice, and that the final state (a
# report and every account's balance) equals the uninterrupted run's. Then fills a 1 MiB
# tmpfs (real ENOSPC; needs root, skipped otherwise): the run must stop with a clear error,
# having printed only a prefix, and a resume elsewhere must print exactly the rest.
# Usage: scripts/crash-test.sh [KILLS (1000)] [LINES (2000000)] [ACCOUNTS (2000)] [SEED (5)]
# CREDITMETER_BINARY selects the binary (default: a release build of this package).
set -euo pipefail
cd "$(dirname "$0")/.."
kills=${1:-1000}
lines=${2:-2000000}
accounts=${3:-2000}
seed=${4:-5}
if [[ -n "${CREDITMETER_BINARY:-}" ]]; then
  bin=$CREDITMETER_BINARY
else
  swift build -c release --product creditmeter >/dev/null
  bin=$(swift build -c release --show-bin-path)/creditmeter
fi
work=$(mktemp -d /tmp/creditmeter-crash.XXXXXX)
cleanup() {
  if mountpoint -q "$work/tmpfs" 2>/dev/null; then umount "$work/tmpfs"; fi
  rm -rf "$work"
}
trap cleanup EXIT
started=$(date +%s)

"$bin" generate --seed "$seed" --lines "$lines" --accounts "$accounts" >"$work/trace.jsonl"
"$bin" replay "$work/trace.jsonl" >"$work/expected.out"
# Queries asked after the last run, of the resumed state and of the uninterrupted one.
last_t=$(tail -n 1 "$work/trace.jsonl" | sed -E 's/.*"t":([0-9]+).*/\1/')
{
  echo "{\"op\":\"report\",\"t\":$last_t}"
  for ((i = 0; i < accounts; i++)); do echo "{\"op\":\"balance\",\"t\":$last_t,\"account\":\"acct$i\"}"; done
} >"$work/queries.jsonl"

# check.py TRACE EXPECTED RUNS_DIR RUN_COUNT: checks every run's output, in order, against
# the expected output from the line it resumed at: no line printed twice, none different.
cat >"$work/check.py" <<'PY'
import sys
trace, expected, runs, run_count = sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4])
with open(expected, 'rb') as f:
    out_lines = f.read().split(b'\n')
segs, pos = [], 0
with open(trace, 'rb') as f:
    for line in f.read().split(b'\n')[:-1]:
        if line.strip(b' \t\r') == b'':
            segs.append(b'')
            continue
        seg = out_lines[pos] + b'\n'
        pos += 1
        while pos < len(out_lines) and out_lines[pos].startswith(b'{"alert":'):
            seg += out_lines[pos] + b'\n'
            pos += 1
        segs.append(seg)
next_unprinted, resumes = 1, 0
for run in range(1, run_count + 1):
    printed = open(f'{runs}/{run}.out', 'rb').read()
    log = open(f'{runs}/{run}.err', 'rb').read().decode(errors='replace')
    resumed = [int(l.split()[-1]) for l in log.splitlines() if l.startswith('resuming at line ')]
    if not resumed and next_unprinted > 1:
        # Killed before it said where it resumes (during recovery): it printed nothing either.
        if printed:
            sys.exit(f'run {run}: printed without saying where it resumed')
        continue
    start = resumed[0] if resumed else 1
    resumes += 1 if resumed else 0
    if start < next_unprinted:
        sys.exit(f'run {run}: resumed at {start} but line {next_unprinted - 1} was already printed')
    offset, line = 0, start
    while offset < len(printed):
        if line > len(segs):
            sys.exit(f'run {run}: printed more than the trace holds')
        want = segs[line - 1]
        have = printed[offset:offset + len(want)]
        if have != want:
            if offset + len(want) > len(printed) and want.startswith(have):
                line += 1  # the kill cut the last write short
                break
            sys.exit(f'run {run}: trace line {line} printed {have!r}, expected {want!r}')
        offset += len(want)
        line += 1
    next_unprinted = max(next_unprinted, line if printed else start)
if next_unprinted != len(segs) + 1 and not (resumed and resumed[0] == len(segs) + 1):
    sys.exit(f'the last run ended at line {next_unprinted - 1} of {len(segs)}')
print(f'output check: {run_count} runs, {resumes} resumed, every printed line as expected, none twice')
PY

mkdir -p "$work/runs"
kill_count=0
run_count=0
while true; do
  run_count=$((run_count + 1))
  out="$work/runs/$run_count.out" err="$work/runs/$run_count.err"
  "$bin" replay --data-dir "$work/data" --snapshot-every 20000 "$work/trace.jsonl" >"$out" 2>"$err" &
  pid=$!
  if ((kill_count < kills)); then
    if ((RANDOM % 4 == 0)); then
      # A quarter of the kills within 0 ... 300 ms of the start: mostly during recovery.
      sleep "0.$(printf '%03d' $((RANDOM % 300)))"
    else
      # The rest 0 ... 15 ms after it said where it resumes (or after 10 s of recovery):
      # among batches, syncs, snapshots in flight and segment rotations.
      for _ in $(seq 2000); do
        if grep -q resuming "$err" 2>/dev/null || ! kill -0 "$pid" 2>/dev/null; then break; fi
        if [[ -s "$out" ]]; then break; fi
        sleep 0.005
      done
      sleep "0.$(printf '%03d' $((RANDOM % 16)))"
    fi
    kill -9 "$pid" 2>/dev/null && kill_count=$((kill_count + 1)) || true
  fi
  status=0
  { wait "$pid"; } 2>/dev/null || status=$?
  if ((status != 0 && status != 137)); then
    echo "run $run_count failed with status $status:"; cat "$err"; exit 1
  fi
  if ((status == 0)); then break; fi
done
python3 "$work/check.py" "$work/trace.jsonl" "$work/expected.out" "$work/runs" "$run_count"
if ((kill_count < kills)); then echo "only $kill_count kills landed before the trace ended: use more LINES"; exit 1; fi
# Every line done once: the next unprinted line may stop short of the end only by lines
# that were durable when a kill came, before they were printed.
cat "$work/trace.jsonl" "$work/queries.jsonl" >"$work/trace+queries.jsonl"
"$bin" replay --data-dir "$work/data" "$work/trace+queries.jsonl" >"$work/queries.out" 2>/dev/null
"$bin" replay "$work/trace+queries.jsonl" | tail -n "$(wc -l <"$work/queries.jsonl")" >"$work/queries.expected"
cmp "$work/queries.out" "$work/queries.expected" || { echo "final state differs from the uninterrupted run"; exit 1; }
"$bin" inspect "$work/data" | tail -n 2
echo "crash test: $kill_count kills, $run_count runs, $lines lines, final state equal, $(($(date +%s) - started)) s"

# Real ENOSPC on a 1 MiB tmpfs.
if [[ $(id -u) -ne 0 ]]; then echo "ENOSPC test skipped: needs root to mount a tmpfs"; exit 0; fi
mkdir -p "$work/tmpfs"
mount -t tmpfs -o size=1m tmpfs "$work/tmpfs"
status=0
"$bin" replay --data-dir "$work/tmpfs/data" "$work/trace.jsonl" >"$work/full.out" 2>"$work/full.err" || status=$?
if ((status == 0)); then echo "ENOSPC: the run did not fail on a full disk"; exit 1; fi
grep -q "No space left on device" "$work/full.err" || { echo "ENOSPC: unclear error:"; cat "$work/full.err"; exit 1; }
echo "ENOSPC: $(head -c 300 "$work/full.err")"
head -c "$(stat -c %s "$work/full.out")" "$work/expected.out" | cmp - "$work/full.out" ||
  { echo "ENOSPC: printed output is not a prefix of the expected output"; exit 1; }
"$bin" inspect "$work/tmpfs/data" | tail -n 2
cp -r "$work/tmpfs/data" "$work/data-after-full"
umount "$work/tmpfs"
"$bin" replay --data-dir "$work/data-after-full" "$work/trace.jsonl" >"$work/rest.out" 2>"$work/rest.err"
cat "$work/full.out" "$work/rest.out" | cmp - "$work/expected.out" ||
  { echo "ENOSPC: the output before the failure and after the resume differs from the expected output"; exit 1; }
echo "ENOSPC: stopped with a clear error, nothing acknowledged lost, resumed to the end ($(cat "$work/rest.err"))"
