#!/usr/bin/env bash
# The engine's concurrency tests (stress mixes on 2, 4 and 8 threads, and the linearizability
# check of 400 recorded histories) under Thread Sanitizer, in a release build with testing
# enabled (debug TSan builds missed real races on this toolchain: ENVIRONMENT.md).
set -euo pipefail
cd "$(dirname "$0")/.."
log=$(mktemp)
trap 'rm -f "$log"' EXIT
swift test -c release --sanitize=thread -Xswiftc -enable-testing --scratch-path .build-tsan \
  --filter 'EngineStressTests|LinearizabilityTests' 2>&1 | tee "$log" | grep -E 'Test run|✘|WARNING: ThreadSanitizer' || true
if grep -q 'WARNING: ThreadSanitizer' "$log"; then
  echo "tsan: races reported (details: rerun and read the full output)" >&2
  exit 1
fi
grep -q '✔ Test run with' "$log" || { echo "tsan: the tests did not pass" >&2; exit 1; }
echo "tsan: no race reported"
