# Sourced by bench/callgrind_*.sh: callgrind_setup TARGET [BUILD_DIR] builds bench TARGET in
# BUILD_DIR (default ./build-bench, configured as RelWithDebInfo, -O2 -g, when it does not exist)
# and sets $root, $build (absolute) and $out (a scratch directory removed on exit).
callgrind_setup() {
    root=$(cd "$(dirname "$0")/.." && pwd)
    build=${2:-$root/build-bench}
    command -v valgrind >/dev/null || { echo "valgrind missing: apt-get install valgrind" >&2; exit 1; }
    if [ ! -f "$build/CMakeCache.txt" ]; then
        cmake -S "$root" -B "$build" -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
    fi
    cmake --build "$build" --target "$1" >/dev/null
    build=$(cd "$build" && pwd)
    out=$(mktemp -d)
    trap 'rm -rf "$out"' EXIT
}
