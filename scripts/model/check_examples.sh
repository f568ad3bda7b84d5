#!/usr/bin/env bash
# Runs the reference model on every example trace in shared/spec/examples and
# compares its output with the .expected file as JSON values, line by line.
# Usage: check_examples.sh [EXAMPLES_DIR]
set -u
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
dir="${1:-$here/../../../shared/spec/examples}"
[ -d "$dir" ] || dir="/work/shared/spec/examples"
pass=0; fail=0
for trace in "$dir"/*.jsonl; do
  name="$(basename "$trace" .jsonl)"
  expected="$dir/$name.expected"
  out="$(mktemp)"
  if python3 "$here/creditmodel.py" "$trace" > "$out" 2>&1 && \
     python3 "$here/jsoncompare.py" --quiet "$expected" "$out"; then
    echo "PASS $name"; pass=$((pass+1))
  else
    echo "FAIL $name"
    python3 "$here/jsoncompare.py" "$expected" "$out" | head -20
    fail=$((fail+1))
  fi
  rm -f "$out"
done
echo "$pass passed, $fail failed"
[ "$fail" -eq 0 ]
