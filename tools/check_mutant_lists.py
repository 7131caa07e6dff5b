#!/usr/bin/env python3
"""check_mutant_lists.py - every line of tools/mutants/*.txt still applies: its original text
occurs exactly once in its file (as tools/mutate.sh needs). A list whose lines silently stop
applying tests nothing; CTest runs this (mutant_lists_apply_to_the_tree).

usage: tools/check_mutant_lists.py [REPO_ROOT]   exit 0 when all apply, 1 otherwise."""
import glob
import os
import sys

root = sys.argv[1] if len(sys.argv) > 1 else os.path.join(os.path.dirname(__file__), "..")
stale = 0
for lst in sorted(glob.glob(os.path.join(root, "tools", "mutants", "*.txt"))):
    with open(lst, encoding="utf-8") as f:
        for number, line in enumerate(f, 1):
            line = line.rstrip("\n")
            if not line or line.startswith("#"):
                continue
            # the same reading as tools/mutate.sh: \n is a line break, then path@@original@@...
            parts = line.replace("\\n", "\n").split("@@", 2)
            if len(parts) != 3:
                print(f"{lst}:{number}: not path@@original@@replacement")
                stale += 1
                continue
            path, original, _ = parts
            try:
                with open(os.path.join(root, path), encoding="utf-8") as src:
                    found = src.read().count(original)
            except OSError:
                found = -1
            if found != 1:
                where = "no such file" if found < 0 else f"found {found} times"
                print(f"{lst}:{number}: {path}: original text {where}")
                stale += 1
print(f"{stale} mutant(s) that no longer apply" if stale else "every mutant applies")
sys.exit(1 if stale else 0)
