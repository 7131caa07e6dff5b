#!/bin/sh
# Instructions per xQueueSend + xQueueReceive pair of the host FreeRTOS with 0, 16, 256 and 1024
# other queues live (the handle lookups' growth), counted by callgrind on bench_freertos_handles's
# fixed workload (see bench/bench_freertos_handles.c and docs/simulator.md, "Dangling handles").
#
# usage: bench/callgrind_freertos_handles.sh [build-dir]
#   build-dir defaults to ./build-bench, configured as RelWithDebInfo (-O2 -g) when it does not exist.
# Needs valgrind (Debian: valgrind). Build with gcc: older valgrind cannot read clang's DWARF 5.
set -eu

. "$(dirname "$0")/callgrind_setup.sh"
callgrind_setup bench_freertos_handles "${1:-}"
pairs=200000
echo "callgrind, $pairs send+receive pairs per row"
for n in 0 16 256 1024; do
    valgrind --tool=callgrind --toggle-collect=fixed_workload --callgrind-out-file="$out/cg.$n" \
        "$build/bench/bench_freertos_handles" --fixed "$n" "$pairs" >/dev/null 2>"$out/stderr"
    callgrind_annotate --inclusive=yes --auto=no "$out/cg.$n" | awk -v n="$n" -v p="$pairs" '
        /:fixed_workload / { ir = $1; gsub(",", "", ir); cost = ir / p }
        END { printf "  %4d other queues live  %7.1f instructions/pair\n", n, cost }'
done
