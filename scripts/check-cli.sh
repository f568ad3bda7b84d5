#!/usr/bin/env bash
# The command line's limits: every option out of its range, a missing file, a data
# directory of another trace, each gives a non-zero exit and a message that names the
# problem, and changes nothing. Uses the release binary (scripts/check-examples.sh builds it).
set -euo pipefail
cd "$(dirname "$0")/.."
bin=.build/release/creditmeter
[[ -x $bin ]] || swift build -c release --product creditmeter >/dev/null
work=$(mktemp -d /tmp/creditmeter-cli.XXXXXX)
trap 'rm -rf "$work"' EXIT
failures=0
# expect_refusal "MESSAGE PART" ARGS...: the command must exit non-zero saying MESSAGE PART.
expect_refusal() {
  local expected=$1; shift
  if "$bin" "$@" >"$work/out" 2>"$work/err"; then
    echo "FAIL: creditmeter $* succeeded"; failures=$((failures + 1)); return
  fi
  if ! grep -qF -- "$expected" "$work/err"; then
    echo "FAIL: creditmeter $*: expected '$expected' in: $(head -3 "$work/err")"; failures=$((failures + 1)); return
  fi
  echo "ok: creditmeter $* -> $(grep -F -- "$expected" "$work/err" | head -1)"
}
expect_refusal "--lines must be 1 ... 100000000" generate --lines 0
expect_refusal "--lines must be 1 ... 100000000" generate --lines 100000001
expect_refusal "--accounts must be 1 ... 10000000" generate --accounts 0 --lines 10
expect_refusal "--lines must cover the set-up" generate --accounts 10 --lines 20
expect_refusal "cannot open" replay "$work/missing.jsonl"
expect_refusal "--mode is durable or buffered" replay --data-dir "$work/d" --mode fast scripts/traces/ai-product-day.jsonl
expect_refusal "--max-delay-ms must be 1 ... 60000" replay --data-dir "$work/d" --mode buffered --max-delay-ms 0 scripts/traces/ai-product-day.jsonl
expect_refusal "--threads must be 1" load --targets mutex --threads 0 --operations 10
expect_refusal "--accounts must be 1" load --targets mutex --accounts 0 --operations 10
expect_refusal "unknown target" load --targets nosuch --operations 10
expect_refusal "--durable-batch must be 1 ... 1024" load --targets engine-durable --durable-batch 0 --operations 10
expect_refusal "--durable-snapshot-every must be 0 or 100 ... 1099511627776" load --targets engine-durable --durable-snapshot-every 99 --operations 10
# The limits themselves are accepted.
"$bin" generate --accounts 1 --lines 3 >"$work/small.jsonl" && [[ $(wc -l <"$work/small.jsonl") -eq 3 ]] \
  && echo "ok: generate --accounts 1 --lines 3 writes 3 lines" || { echo "FAIL: generate at its lower limits"; failures=$((failures + 1)); }
# A data directory belongs to its trace: another trace is refused and the directory is unchanged.
"$bin" replay --data-dir "$work/dir" "$work/small.jsonl" >/dev/null
before=$(cd "$work/dir" && ls -l --time-style=+%s.%N | md5sum)
expect_refusal "belongs to another trace" replay --data-dir "$work/dir" scripts/traces/ai-product-day.jsonl
after=$(cd "$work/dir" && ls -l --time-style=+%s.%N | md5sum)
[[ $before == "$after" ]] && echo "ok: the refused directory is unchanged" || { echo "FAIL: the refused run changed the directory"; failures=$((failures + 1)); }
if (( failures > 0 )); then echo "check-cli: $failures failures"; exit 1; fi
echo "check-cli: all passed"
