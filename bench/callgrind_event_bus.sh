#!/bin/sh
# Instructions per post + delivery of the event bus and of the esp_event-style baseline, counted by
# callgrind on bench_event_bus's fixed workload (one subscriber, manual dispatch, handler excluded):
# 16/200/1000-byte payloads, dispatched in batches of 16 and one by one; and a dispatch call that
# finds nothing queued (batch 0: instructions per call). See docs/event-bus.md.
#
# usage: bench/callgrind_event_bus.sh [build-dir]
#   build-dir defaults to ./build-bench, configured as RelWithDebInfo (-O2 -g) when it does not exist
#   (profiling is off by default; for profiling on, configure one with
#   -DKRAKEN_SDKCONFIG_DEFAULTS=<file with the line "CONFIG_SYSTEM_SERVICE_EVENT_PROFILING=y">).
# Needs valgrind (Debian: valgrind). Build with gcc: older valgrind cannot read clang's DWARF 5.
set -eu

. "$(dirname "$0")/callgrind_setup.sh"
callgrind_setup bench_event_bus "${1:-}"
n=96000
echo "callgrind, $n events per workload, 1 subscriber, manual mode, handler excluded ($build)"
printf '  %-8s %-6s %12s %12s\n' payload batch kraken baseline
for size in 16 200 1000 -; do
    for batch in 16 1 0; do
        case $size$batch in -0) size=16 ;; -*|*0) continue ;; esac
        valgrind --tool=callgrind --callgrind-out-file="$out/cg.out" \
            --toggle-collect=fixed_workload --toggle-collect=baseline_fixed_workload \
            "$build/bench/bench_event_bus" --fixed $n --size $size --batch $batch \
            >"$out/stdout" 2>"$out/stderr"
        callgrind_annotate --inclusive=yes --auto=no "$out/cg.out" | awk -v n=$n -v size=$size \
            -v batch=$batch '
            { ir = $1; gsub(",", "", ir) }
            / [^ ]*:fixed_workload /          { kraken = ir }
            / [^ ]*:baseline_fixed_workload / { baseline = ir }
            / [^ ]*:kraken_handler /          { kh = ir }
            / [^ ]*:baseline_handler /        { bh = ir }
            END { printf "  %-8s %-6s %12.1f %12.1f\n", batch ? size " B" : "none", batch,
                         (kraken - kh) / n, (baseline - bh) / n }'
    done
done
