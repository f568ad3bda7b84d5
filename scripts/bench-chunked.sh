#!/bin/bash
# Compares ChunkedArray versions on perf/chunked-first-write/main.swift: the first write
# after a copy (per table and per line) and random and sequential reads.
# usage: scripts/bench-chunked.sh [REVISION ...]   (a git revision, or "worktree" for the working
# tree; default: main and the working tree)
# Each revision's Sources/CreditCore/ChunkedArray.swift is built with swiftc -O, linked with
# jemalloc like the creditmeter executable (glibc malloc adds page faults of its own here).
set -euo pipefail
cd "$(dirname "$0")/.."
work=$(mktemp -d /tmp/bench-chunked.XXXXXX)
trap 'rm -rf "$work"' EXIT
revisions=("$@")
[ ${#revisions[@]} -eq 0 ] && revisions=(main worktree)
for revision in "${revisions[@]}"; do
    mkdir -p "$work/$revision"
    if [ "$revision" = worktree ]; then
        cp Sources/CreditCore/ChunkedArray.swift "$work/$revision/"
    else
        git show "$revision:Sources/CreditCore/ChunkedArray.swift" > "$work/$revision/ChunkedArray.swift"
    fi
    swiftc -O -wmo -swift-version 5 -module-name Bench "$work/$revision/ChunkedArray.swift" \
        perf/chunked-first-write/main.swift -ljemalloc -o "$work/$revision/bench"
done
for round in 1 2; do
    for revision in "${revisions[@]}"; do
        echo "$revision, round $round, $(date -u +%H:%M:%S) UTC, load $(cut -d' ' -f1-3 /proc/loadavg)"
        "$work/$revision/bench"
    done
done
