#!/bin/sh
# Instructions per free+malloc pair of the simulator's TLSF heap and of glibc, counted by callgrind
# on bench_tlsf's fixed workload (see bench/bench_tlsf.c and docs/bench-tlsf.md).
#
# usage: bench/callgrind_tlsf.sh [build-dir]
#   build-dir defaults to ./build-bench, configured as RelWithDebInfo (-O2 -g) when it does not exist.
# Needs valgrind (Debian: valgrind). Build with gcc: older valgrind cannot read clang's DWARF 5.
set -eu

. "$(dirname "$0")/callgrind_setup.sh"
callgrind_setup bench_tlsf "${1:-}"
valgrind --tool=callgrind --collect-atstart=no --callgrind-out-file="$out/cg.out" \
    "$build/bench/bench_tlsf" callgrind >"$out/stdout" 2>"$out/stderr"
steps=$(awk '$1 == "steps" { print $2 }' "$out/stdout")

callgrind_annotate --inclusive=yes --auto=no "$out/cg.out" | awk -v n="$steps" '
    /:workload_[a-z0-9_]+ / {
        ir = $1; gsub(",", "", ir)
        name = $0; sub(/.*:workload_/, "", name); sub(/ .*/, "", name)
        cost[name] = ir / n
    }
    END {
        loop = cost["loop_only"]
        printf "callgrind, %d free+malloc pairs per workload, 128 live blocks\n", n
        printf "  %-14s %7.1f instructions/pair (harness loop alone)\n", "loop only", loop
        split("tlsf_320k tlsf_8m glibc", order, " ")
        for (i = 1; i <= 3; i++) {
            k = order[i]
            printf "  %-14s %7.1f instructions/pair, %6.1f without the loop\n", k, cost[k],
                   cost[k] - loop
        }
        printf "  ratio tlsf_320k/glibc %.2f, tlsf_8m/tlsf_320k %.3f\n",
               (cost["tlsf_320k"] - loop) / (cost["glibc"] - loop), cost["tlsf_8m"] / cost["tlsf_320k"]
    }'
