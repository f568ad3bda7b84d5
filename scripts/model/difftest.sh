#!/usr/bin/env bash
# Differential test: random traces, replayed by the reference model and by the
# command under test, compared as JSON values request by request.
#
#   difftest.sh [--runs N] [--lines N] [--seed S] [--accounts N] [--keep DIR] -- CMD...
#
# CMD reads the trace on stdin and prints the result and alert lines, e.g.
#   scripts/model/difftest.sh --runs 50 -- .build/release/creditmeter replay -
# Seeds S, S+1, ... S+N-1 are used. On the first mismatch it prints the seed,
# the trace line number and text, the expected and the actual output of that
# request, keeps the trace (printed path) and exits 1. Exits 0 when all match.
set -u
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
runs=20
lines=2000
seed=1
accounts=4
keep=""
while [ $# -gt 0 ]; do
  case "$1" in
    --runs) runs="$2"; shift 2 ;;
    --lines) lines="$2"; shift 2 ;;
    --seed) seed="$2"; shift 2 ;;
    --accounts) accounts="$2"; shift 2 ;;
    --keep) keep="$2"; shift 2 ;;
    --) shift; break ;;
    -h|--help) sed -n '2,12p' "$0"; exit 0 ;;
    *) echo "difftest.sh: unknown option $1 (the command goes after --)" >&2; exit 2 ;;
  esac
done
if [ $# -eq 0 ]; then
  echo "usage: difftest.sh [--runs N] [--lines N] [--seed S] [--accounts N] -- CMD..." >&2
  exit 2
fi
work="$(mktemp -d "${TMPDIR:-/tmp}/difftest.XXXXXX")"
trap 'rm -rf "$work"' EXIT

for ((i = 0; i < runs; i++)); do
  s=$((seed + i))
  trace="$work/trace-$s.jsonl"
  python3 "$here/gentrace.py" --seed "$s" --lines "$lines" --accounts "$accounts" > "$trace" \
    || { echo "seed $s: gentrace.py failed" >&2; exit 2; }
  python3 "$here/creditmodel.py" "$trace" > "$work/expected" \
    || { echo "seed $s: the model failed" >&2; exit 2; }
  "$@" < "$trace" > "$work/actual" 2> "$work/stderr"
  rc=$?
  if ! python3 "$here/jsoncompare.py" --trace "$trace" --label "MISMATCH seed $s" \
         "$work/expected" "$work/actual"; then
    [ "$rc" -ne 0 ] && echo "(the command exited with status $rc)"
    if [ -s "$work/stderr" ]; then echo "stderr:"; head -20 "$work/stderr"; fi
    dest="${keep:-${TMPDIR:-/tmp}}/difftest-fail-seed$s.jsonl"
    mkdir -p "$(dirname "$dest")" && cp "$trace" "$dest" && echo "trace kept at $dest"
    echo "reproduce: python3 $here/gentrace.py --seed $s --lines $lines --accounts $accounts"
    exit 1
  fi
  if [ "$rc" -ne 0 ]; then
    echo "seed $s: outputs match but the command exited with status $rc" >&2
    exit 1
  fi
  echo "seed $s: ok ($lines lines)"
done
echo "all $runs runs match"
exit 0
