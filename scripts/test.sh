#!/usr/bin/env bash
# The test command: the Swift test suites, then the release binary on every example trace,
# then the command line's limits and refusals (scripts/check-cli.sh), then short differential runs of the release binary, through the core and through the
# engine, against the independent Python model on random traces (scripts/model). Options go to `swift test` (e.g. --filter Ledger).
set -euo pipefail
cd "$(dirname "$0")/.."
swift test "$@"
scripts/check-examples.sh
scripts/check-cli.sh
scripts/model/difftest.sh --runs "${DIFFTEST_RUNS:-4}" --lines "${DIFFTEST_LINES:-3000}" --seed "${DIFFTEST_SEED:-1}" \
  -- .build/release/creditmeter replay -
scripts/model/difftest.sh --runs 2 --lines "${DIFFTEST_LINES:-3000}" --seed 1001 \
  -- .build/release/creditmeter replay --engine -
