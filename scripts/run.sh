#!/usr/bin/env bash
# The main job on a fresh machine: set up, build a release binary, and replay the project's
# example of an AI product's day (scripts/traces/ai-product-day.jsonl), printing each
# request's result and alerts.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh
swift build -c release --product creditmeter
.build/release/creditmeter replay scripts/traces/ai-product-day.jsonl
