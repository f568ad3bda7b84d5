#!/usr/bin/env bash
# The release binary replays every example trace to its expected output (compared as JSON
# values), through the core and through the engine (--engine): the spec's examples
# (../shared/spec/examples, when present) and the project's own.
set -euo pipefail
cd "$(dirname "$0")/.."
swift build -c release --product creditmeter >/dev/null
actual=$(mktemp)
trap 'rm -f "$actual"' EXIT
failed=0
checked=0
for dir in ../shared/spec/examples scripts/traces; do
  [ -d "$dir" ] || { echo "check-examples: $dir not found: skipped"; continue; }
  for trace in "$dir"/*.jsonl; do
    expected="${trace%.jsonl}.expected"
    [ -f "$expected" ] || continue
    for engine in "" --engine; do
      checked=$((checked + 1))
      .build/release/creditmeter replay $engine - <"$trace" >"$actual"
      if ! python3 scripts/model/jsoncompare.py --trace "$trace" "$expected" "$actual"; then
        echo "FAIL $trace ${engine:-(core)}"; failed=$((failed + 1))
      fi
    done
  done
done
echo "$((checked - failed)) passed, $failed failed"
[ "$failed" -eq 0 ]
