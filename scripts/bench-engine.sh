#!/usr/bin/env bash
# Engine benchmarks (package-benchmark): throughput, wall clock, malloc and ARC counts of
# reserve+commit on 1M accounts (Zipf, 1 and 2 threads), one hot account, charge by item.
# Each iteration is 10,000 pairs per thread ("(K)" in the output: thousands).
set -euo pipefail
cd "$(dirname "$0")/.."
export CREDITMETER_BENCHMARKS=1
swift package --scratch-path .build-bench benchmark --target EngineBenchmarks --no-progress "$@"
