#!/bin/sh
# mutate.sh - mutation check: apply each listed source change alone, rebuild, run the tests, and
# report whether some test failed (KILLED) or all passed (SURVIVED). Works on a clone of the
# committed HEAD in a temporary directory: the working tree is never touched, uncommitted changes
# are not seen. The tests must pass unmutated first.
#
# usage: tools/mutate.sh [-t "TARGET ..."] [-r CTEST_REGEX] [-T SECONDS] [-c "CMAKE_ARG ..."]
#                        MUTANT_FILE...
#   -t  build targets (default: all)           -r  ctest -R regex (default: every test)
#   -T  time limit of one ctest run (default 120; a mutant that hangs the tests counts as KILLED)
#   -c  more configure arguments (default: none; the build is Debug), e.g.
#       -c -DKRAKEN_SANITIZE=address for mutants only a leak or a use after free shows
# A mutant file holds one mutant per line, `path@@original@@replacement`: path from the repository
# root, `original` found exactly once in that file, `\n` for a line break in either text. Blank
# lines and lines starting with # are skipped. Exit status: 0 if every mutant was KILLED, 1 if one
# SURVIVED or no longer applies (NOTFOUND, NOBUILD), 2 if the unmutated tests fail.
#   tools/mutate.sh -t "test_event_bus test_event_bus_stress fuzz_event_bus" -r event_bus \
#       tools/mutants/event_bus.txt
# Needs git, cmake, python3.
set -eu

targets="" regex="" limit=120 configure=""
while getopts t:r:T:c: opt; do
    case $opt in
        t) targets=$OPTARG ;;
        r) regex=$OPTARG ;;
        T) limit=$OPTARG ;;
        c) configure=$OPTARG ;;
        *) sed -n '7,12p' "$0" >&2; exit 2 ;;
    esac
done
shift $((OPTIND - 1))
[ $# -gt 0 ] || { sed -n '7,12p' "$0" >&2; exit 2; }

root=$(cd "$(dirname "$0")/.." && pwd)
work=$(mktemp -d "${TMPDIR:-/tmp}/kraken-mutate.XXXXXX")
trap 'rm -rf "$work"' EXIT
git clone -q "$root" "$work/src"
# shellcheck disable=SC2086 # the configure arguments are words
cmake -S "$work/src" -B "$work/build" -DCMAKE_BUILD_TYPE=Debug $configure >/dev/null

build() { # build [target ...]: quiet, status only
    if [ -n "$targets" ]; then
        # shellcheck disable=SC2086 # the targets are words
        cmake --build "$work/build" -j2 --target $targets >/dev/null 2>&1
    else
        cmake --build "$work/build" -j2 >/dev/null 2>&1
    fi
}
tests_pass() {
    (cd "$work/build" && timeout -k 5 "$limit" ctest -j2 ${regex:+-R "$regex"} >/dev/null 2>&1)
}

build || { echo "mutate: the unmutated tree does not build" >&2; exit 2; }
if ! tests_pass; then # say which: often a test the regex picks that no -t target builds
    echo "mutate: the unmutated tests fail: nothing to measure" >&2
    (cd "$work/build" && timeout -k 5 "$limit" ctest -j2 ${regex:+-R "$regex"} 2>&1 |
        grep -E 'Not Run|Failed|Timeout|\*\*\*' >&2)
    exit 2
fi

killed=0 survived=0 broken=0
cat "$@" >"$work/mutants"
while IFS= read -r line; do
    case $line in '' | '#'*) continue ;; esac
    file=${line%%@@*}
    if ! python3 - "$work/src" "$line" <<'EOF'; then
import sys
root, line = sys.argv[1:]
path, orig, repl = line.replace("\\n", "\n").split("@@", 2)
text = open(f"{root}/{path}").read()
if text.count(orig) != 1:
    sys.exit(1)
open(f"{root}/{path}", "w").write(text.replace(orig, repl))
EOF
        printf "NOTFOUND %s\n" "$line"
        broken=$((broken + 1))
        continue
    fi
    if ! build; then
        printf "NOBUILD  %s\n" "$line"
        broken=$((broken + 1))
    elif tests_pass; then
        printf "SURVIVED %s\n" "$line"
        survived=$((survived + 1))
    else
        printf "KILLED   %s\n" "$line"
        killed=$((killed + 1))
    fi
    git -C "$work/src" checkout -q -- "$file"
done <"$work/mutants"

echo "mutate: $killed killed, $survived survived, $broken not applicable"
[ "$survived" -eq 0 ] && [ "$broken" -eq 0 ]
