#!/usr/bin/env bash
# Profiles one fixed workload of `creditmeter load` and writes what it finds to perf/out/:
#   callgrind   instruction counts (repeatable: one worker thread, a fixed operation count
#               and seed) per function, from a build with DWARF 4 debug info (valgrind
#               cannot read Swift's default DWARF 5);
#   perf        where `perf` works: `perf stat` software counters (this VM has no hardware
#               PMU: no cycles or instructions) and `perf record -e cpu-clock` samples with
#               call graphs, as a report and a flame graph (perf/flamegraph.py).
#
#   perf/profile.sh [TARGET] [OPERATIONS]     default: mutex 200000
#   PROFILE_ARGS="--profile chat" perf/profile.sh floor
# Read perf/README.md for how to read the results.
set -euo pipefail
cd "$(dirname "$0")/.."

TARGET="${1:-mutex}"
OPERATIONS="${2:-200000}"
OUT=perf/out
SCRATCH=.build-perf
mkdir -p "$OUT"
WORKLOAD=(load --targets "$TARGET" --profile mixed --accounts 10000 --threads 1 --seed 1 --operations "$OPERATIONS" --out "$OUT/results" ${PROFILE_ARGS:-})

echo "== building creditmeter with DWARF 4 debug info ($SCRATCH)"
if ! swift build -c release --scratch-path "$SCRATCH" --product creditmeter \
    -Xswiftc -g -Xswiftc -dwarf-version=4 -Xcc -gdwarf-4 > "$OUT/build.log" 2>&1; then
    grep -E "error" "$OUT/build.log" | head -20
    echo "profile.sh: the build failed (all of it: $OUT/build.log)" >&2
    exit 1
fi
BIN="$SCRATCH/release/creditmeter"
demangle() { swift demangle --simplified; }

if command -v valgrind >/dev/null; then
    echo "== callgrind: creditmeter ${WORKLOAD[*]}"
    valgrind --tool=callgrind --callgrind-out-file="$OUT/callgrind.$TARGET.out" "$BIN" "${WORKLOAD[@]}" \
        > "$OUT/callgrind.$TARGET.stdout" 2> "$OUT/callgrind.$TARGET.log"
    callgrind_annotate --inclusive=yes "$OUT/callgrind.$TARGET.out" 2>/dev/null | demangle > "$OUT/callgrind.$TARGET.inclusive.txt"
    callgrind_annotate "$OUT/callgrind.$TARGET.out" 2>/dev/null | demangle > "$OUT/callgrind.$TARGET.self.txt"
    total=$(grep -m1 -E "^[0-9,]+ .*PROGRAM TOTALS" "$OUT/callgrind.$TARGET.self.txt" | awk '{print $1}')
    echo "instructions (whole process): $total; per operation: $(python3 -c "print(round(int('${total//,/}') / $OPERATIONS))")"
    load=$(grep -m1 -E "^ *[0-9,]+ .*Worker\.swift:Worker\.run\(client:control:\)" "$OUT/callgrind.$TARGET.inclusive.txt" | awk '{print $1}')
    if [ -n "$load" ]; then
        echo "instructions in the load itself (Worker.run, inclusive: workload, target, timing, tally): $load;" \
            "per operation: $(python3 -c "print(round(int('${load//,/}') / $OPERATIONS))")"
    fi
    echo "top functions by own instructions (whole process, set-up and report included):"
    grep -A 12 -m1 "file:function" "$OUT/callgrind.$TARGET.self.txt" | tail -n +2 | cut -c1-160
else
    echo "== callgrind skipped: valgrind is not installed (apt-get install valgrind)"
fi

if command -v perf >/dev/null && perf record -e cpu-clock -o /dev/null -- true >/dev/null 2>&1; then
    # Wall-clock sampling wants a run long enough for ~10,000 samples: 5 s on 2 threads.
    SAMPLED=(load --targets "$TARGET" --profile mixed --accounts 10000 --threads 2 --seed 1 --duration 5 --out "$OUT/results" ${PROFILE_ARGS:-})
    echo "== perf stat: creditmeter ${SAMPLED[*]}"
    perf stat -e task-clock,context-switches,cpu-migrations,page-faults -o "$OUT/perf-stat.$TARGET.txt" \
        "$BIN" "${SAMPLED[@]}" > /dev/null
    grep -E "task-clock|context|migrations|faults|elapsed" "$OUT/perf-stat.$TARGET.txt"
    echo "== perf record -e cpu-clock -F 999 -g"
    perf record -q -e cpu-clock -F 999 -g -o "$OUT/perf.$TARGET.data" -- "$BIN" "${SAMPLED[@]}" > /dev/null 2>&1
    perf report -i "$OUT/perf.$TARGET.data" --stdio --no-children --percent-limit 1 2>/dev/null | demangle \
        > "$OUT/perf-report.$TARGET.txt"
    perf script -i "$OUT/perf.$TARGET.data" 2>/dev/null | demangle > "$OUT/perf-script.$TARGET.txt"
    python3 perf/flamegraph.py "creditmeter load --targets $TARGET (cpu-clock)" < "$OUT/perf-script.$TARGET.txt" \
        > "$OUT/flame.$TARGET.svg"
    echo "report: $OUT/perf-report.$TARGET.txt  flame graph: $OUT/flame.$TARGET.svg"
else
    echo "== perf skipped: perf is missing or cannot sample here (apt-get install linux-perf)"
fi
