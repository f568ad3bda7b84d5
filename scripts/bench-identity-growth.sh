#!/bin/bash
# Compares IdentityTable versions on perf/identity-growth/main.swift: the longest single
# insertion as a table grows to 20M ids, its percentiles, and look-ups of present keys.
# usage: scripts/bench-identity-growth.sh [REVISION ...]   (a git revision, or "worktree" for the
# working tree; default: main and the working tree). BENCH_ARGS: the benchmark's arguments
# (COUNT [COPY_EVERY [PRETOUCH_GIB]]; default 20000000).
# Each revision's IdentityTable.swift, ChunkedArray.swift and LazyChunkedArray.swift (where it
# exists) are built with swiftc -O with a RecordIndex shim, linked with jemalloc like the
# creditmeter executable. The environment is passed through, so MALLOC_CONF (for example
# background_thread:true, which moves jemalloc's purging off the inserting thread) applies.
set -euo pipefail
cd "$(dirname "$0")/.."
work=$(mktemp -d /tmp/bench-identity-growth.XXXXXX)
trap 'rm -rf "$work"' EXIT
revisions=("$@")
[ ${#revisions[@]} -eq 0 ] && revisions=(main worktree)
files=(IdentityTable.swift ChunkedArray.swift LazyChunkedArray.swift)
for revision in "${revisions[@]}"; do
    mkdir -p "$work/$revision"
    for file in "${files[@]}"; do
        if [ "$revision" = worktree ]; then
            [ -f "Sources/CreditCore/$file" ] && cp "Sources/CreditCore/$file" "$work/$revision/"
        elif git cat-file -e "$revision:Sources/CreditCore/$file" 2>/dev/null; then
            git show "$revision:Sources/CreditCore/$file" > "$work/$revision/$file"
        fi
    done
    echo 'typealias RecordIndex = Int32' > "$work/$revision/Shim.swift"
    swiftc -O -wmo -swift-version 6 -module-name Bench "$work/$revision"/*.swift \
        perf/identity-growth/main.swift -ljemalloc -o "$work/$revision/bench"
done
for round in 1 2; do
    for revision in "${revisions[@]}"; do
        echo "$revision, round $round, $(date -u +%H:%M:%S) UTC, load $(cut -d' ' -f1-3 /proc/loadavg)"
        # shellcheck disable=SC2086
        "$work/$revision/bench" ${BENCH_ARGS:-}
    done
done
