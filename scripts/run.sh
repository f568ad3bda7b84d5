#!/usr/bin/env bash
# The main job on a fresh machine: set up, build a release binary, replay the project's
# example of an AI product's day (scripts/traces/ai-product-day.jsonl), then a short load
# run on the embedded engine, in memory and durable (a journal in /tmp, fdatasync per group
# commit), beside the global-mutex core and the atomic floor (no server needed), ending with
# the summary table and the path of the latency plot.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh
swift build -c release --product creditmeter
echo "== replay: scripts/traces/ai-product-day.jsonl"
.build/release/creditmeter replay scripts/traces/ai-product-day.jsonl
echo "== load: mixed profile, engine (in memory and durable) vs mutex vs floor"
.build/release/creditmeter load --profile mixed --targets engine,engine-durable,mutex,floor --accounts 100000 --threads 2 \
  --seed 1 --duration 3 --out results --json results/load.json
