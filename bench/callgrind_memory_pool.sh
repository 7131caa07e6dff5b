#!/bin/sh
# Instructions per alloc+free pair of the pools and of the baselines (the simulated chip heap,
# glibc, mimalloc when libmimalloc2.0 is installed), counted by callgrind on bench_memory_pool's
# fixed workload: the inclusive cost of each allocator's alloc and free entry points divided by
# the pairs (see bench/bench_memory_pool.c and docs/memory-pools.md).
#
# usage: bench/callgrind_memory_pool.sh [build-dir]
#   build-dir defaults to ./build-bench, configured as RelWithDebInfo (-O2 -g) when it does not exist.
# Needs valgrind (Debian: valgrind). Build with gcc: older valgrind cannot read clang's DWARF 5.
# callgrind_annotate runs in a scratch directory: run inside the source tree, it names the files
# relatively and leaves the inlined lock of memory_pool_alloc/free out of their inclusive cost.
set -eu

. "$(dirname "$0")/callgrind_setup.sh"
callgrind_setup bench_memory_pool "${1:-}"
n=1000000

# per_pair LABEL ALLOCATOR PATTERN [--full]: the summed inclusive cost of the entries PATTERN
# matches / n
per_pair() {
    if ! valgrind --tool=callgrind --callgrind-out-file="$out/cg.out" \
        "$build/bench/bench_memory_pool" --fixed "$2" $n ${4:-} >"$out/stdout" 2>"$out/stderr"; then
        printf '  %-22s not measured: %s\n' "$1" "$(grep -o '(.*)' "$out/stderr" | tail -n 1)"
        return
    fi
    (cd "$out" && callgrind_annotate --inclusive=yes --auto=no --threshold=100 cg.out) |
        grep -E "$3" | awk -v n=$n -v name="$1" '
        {
            ir = $1; gsub(",", "", ir); f = $3; sub(/.*:/, "", f)
            part = part sprintf("  %s %.1f", f, ir / n); sum += ir / n
        }
        END { printf "  %-22s %7.1f   (%s)\n", name, sum, substr(part, 3) }'
}

echo "callgrind, $n alloc+free pairs, the spec's size mix ($build)"
printf '  %-22s %7s\n' allocator instructions/pair
pool=':memory_pool_(alloc|free) \['
per_pair pool pool "$pool"
per_pair "pool, classes full" pool "$pool" --full # each pair takes its class's last free block
per_pair heap_caps heap_caps ':heap_caps_(malloc|free) \['
per_pair glibc glibc 'malloc.c:(malloc|free) \['
per_pair mimalloc mimalloc '\?\?\?:(malloc|free) \[.*mimalloc'
