#!/usr/bin/env python3
"""check_mutant_lists.py - every line of tools/mutants/*.txt still applies: its original text
occurs exactly once in its file (as tools/mutate.sh needs). A list whose lines silently stop
applying tests nothing; CTest runs this (mutant_lists_apply_to_the_tree).

Given a CTest build directory, it also checks each list's header commands: every test their -r
regex picks must be built by their -t targets (a test left unbuilt fails the unmutated run, and
the command measures nothing).

usage: tools/check_mutant_lists.py [REPO_ROOT [CTEST_COMMAND BUILD_DIR]]
exit 0 when all apply, 1 otherwise."""
import glob
import os
import re
import shlex
import subprocess
import sys

root = sys.argv[1] if len(sys.argv) > 1 else os.path.join(os.path.dirname(__file__), "..")
stale = 0


def test_names(ctest, build_dir):
    out = subprocess.run([ctest, "-N"], cwd=build_dir, capture_output=True, text=True,
                         check=True).stdout
    return re.findall(r"Test +#\d+: (\S+)", out)


def check_commands(lst, names):
    """Tests a header command's -r picks that its -t does not build; one line each."""
    header = []
    with open(lst, encoding="utf-8") as f:
        for line in f:
            if not line.startswith("#"):
                break
            header.append(line[1:].rstrip("\n"))
    text = "\n".join(header).replace("\\\n", " ")
    bad = 0
    for command in re.finditer(r"tools/mutate\.sh(.*?)tools/mutants/\S+\.txt", text, re.S):
        # read the options as the shell does: -t "a b", -t a, -r "x|y" and -r x alike
        words = shlex.split(command.group(1))
        options = dict(zip(words[::2], words[1::2])) if len(words) % 2 == 0 else {}
        if len(words) % 2 != 0 or not set(options) <= {"-t", "-r", "-c", "-T"}:
            print(f"{lst}: cannot read the header command's options: {command.group(1).strip()}")
            bad += 1
            continue
        if "-t" not in options:
            continue  # everything is built
        built = set(options["-t"].split())
        picked = [n for n in names if re.search(options.get("-r", ""), n)]
        for name in picked:
            if name not in built:
                print(f"{lst}: a header command's -r picks {name}, which its -t does not build")
                bad += 1
    return bad


names = test_names(sys.argv[2], sys.argv[3]) if len(sys.argv) > 3 else None
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
    if names is not None:
        stale += check_commands(lst, names)
print(f"{stale} mutant(s) or command(s) that no longer apply" if stale else "every mutant applies")
sys.exit(1 if stale else 0)
