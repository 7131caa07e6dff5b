#!/usr/bin/env python3
"""Generate sdkconfig.h for the host build from the component's Kconfig, as ESP-IDF does.

Reads the Kconfig tree (port/host/Kconfig.host sources the component's Kconfig), applies the
sdkconfig.defaults files in order (or a complete sdkconfig), refuses any value that Kconfig would
silently change (out of range, not a number, a bool or a choice whose dependencies are not met, a
number without a prompt that its choice derives, an unknown option of the component) or that the
component cannot work with, and writes sdkconfig.h and the resolved sdkconfig. ESP-IDF options the
host does not simulate (a project's flash size, interrupt watchdog timeout...) are listed as not
simulated, and the values the files give them go into sdkconfig.h as ESP-IDF would write them (and
into the resolved sdkconfig), so that code reading them compiles; options ESP-IDF would derive from
them are not there. Old option names ESP-IDF still takes (its sdkconfig.rename files) are taken for
the options the host simulates: the pairs are in sdkconfig.rename next to the Kconfig file. Uses
Debian's python3-kconfiglib.
"""
import argparse
import os
import re
import sys
import tempfile

try:
    import kconfiglib
except ImportError:
    sys.exit("gen_sdkconfig: python3-kconfiglib is missing: apt-get install python3-kconfiglib")


def fail(msg):
    sys.exit("gen_sdkconfig: error: " + msg)


def parse_int(sym, text):
    try:
        return int(text, 16 if sym.type == kconfiglib.HEX else 10)
    except ValueError:
        return None


COMPONENT_PREFIX = "SYSTEM_SERVICE_"  # a misspelt option of ours is an error, not an ESP-IDF one


def check_user_values(kconf, files):
    """Every value given in a file must be taken by Kconfig as it was written. Returns the ESP-IDF
    options that the host build does not have."""
    not_simulated = []
    for w in kconf.warnings:
        undefined = re.search(r"undefined symbol (\w+)", w)
        if undefined and not undefined.group(1).startswith(COMPONENT_PREFIX):
            not_simulated.append(kconf.config_prefix + undefined.group(1))
        elif any(m in w for m in ("undefined symbol", "malformed", "is not a valid",
                                  "is invalid for", "assignment ignored")):
            fail("%s (in %s)" % (w, ", ".join(files)))
    # A choice in effect that Kconfig answers with another member than the one asked for (its
    # dependencies are not met). A choice switched off by its parent is ignored, as in ESP-IDF.
    for choice in kconf.unique_choices:
        chosen = choice.user_selection
        if chosen is not None and choice.selection is not None and choice.selection is not chosen:
            deps = [d for d in kconfiglib.split_expr(chosen.direct_dep, kconfiglib.AND)
                    if not isinstance(d, kconfiglib.Choice)]
            fail("%s%s=y cannot be taken: it depends on %s" % (
                kconf.config_prefix, chosen.name,
                " && ".join(kconfiglib.expr_str(d) for d in deps)))
    # A bool asked for in the last file that Kconfig answers otherwise (its dependencies are not
    # met, or another option selects it). Only the last: an earlier file's value may depend on
    # what a later one turns off (no-spiram.defaults after the component's PSRAM options). Choice
    # members are the choices' business (above).
    last = set()
    with open(files[-1]) if files else open(os.devnull) as f:  # no file: Kconfig's defaults
        for line in f:
            m = re.match(r"\s*(?:#\s*)?%s(\w+)(?:=| is not set)" % kconf.config_prefix, line)
            if m:
                last.add(m.group(1))
    for sym in kconf.unique_defined_syms:
        if (sym.name not in last or sym.user_value is None or sym.choice is not None
                or sym.type not in (kconfiglib.BOOL, kconfiglib.TRISTATE)
                or sym.user_value == sym.tri_value):
            continue
        name = kconf.config_prefix + sym.name
        asked = kconfiglib.TRI_TO_STR[sym.user_value]
        if sym.tri_value < sym.user_value:
            why = "it depends on %s" % kconfiglib.expr_str(sym.direct_dep)
        else:
            why = "it is selected by %s" % kconfiglib.expr_str(sym.rev_dep)
        fail("%s=%s cannot be taken: %s" % (name, asked, why))
    for sym in kconf.unique_defined_syms:
        if sym.user_value is None or sym.type not in (kconfiglib.INT, kconfiglib.HEX):
            continue
        name = kconf.config_prefix + sym.name
        value = parse_int(sym, sym.user_value)
        if value is None:
            fail("%s=%s is not a number" % (name, sym.user_value))
        if not sym.nodes[0].prompt and value != parse_int(sym, sym.str_value):
            # no prompt: Kconfig derives it (CONFIG_ESP_DEFAULT_CPU_FREQ_MHZ from its choice)
            fail("%s=%s cannot be taken: it follows other options (it is %s with them)" % (
                name, sym.user_value, sym.str_value))
        for lo, hi, cond in sym.ranges:
            if kconfiglib.expr_value(cond):
                lo_v, hi_v = parse_int(sym, lo.str_value), parse_int(sym, hi.str_value)
                if not lo_v <= value <= hi_v:
                    fail("%s=%d is outside its range [%d, %d]" % (name, value, lo_v, hi_v))
                break
    return not_simulated


def check_component_rules(kconf):
    """Rules Kconfig cannot express; src/kraken_config.h checks the same at compile time."""
    prefix = "SYSTEM_SERVICE_MEMORY_POOL_"
    classes = ["SMALL", "MEDIUM", "LARGE", "XLARGE"]
    sizes = []
    for c in classes:
        sym = kconf.syms.get(prefix + c + "_SIZE")
        if sym is None:
            return
        size = int(sym.str_value)
        if size % 8:
            fail("CONFIG_%s%s_SIZE=%d must be a multiple of 8" % (prefix, c, size))
        sizes.append(size)
    for i in range(1, len(sizes)):
        if sizes[i] <= sizes[i - 1]:
            fail("CONFIG_%s%s_SIZE=%d must be larger than CONFIG_%s%s_SIZE=%d" %
                 (prefix, classes[i], sizes[i], prefix, classes[i - 1], sizes[i - 1]))


def given_values(files, names, prefix):
    """The last value each file gives each of names (without the prefix), in the files' order: the
    text after '=', or None for '# CONFIG_X is not set'."""
    values = {}
    for path in files:
        with open(path) as f:
            for line in f:
                m = re.match(r"\s*%s(\w+)=(.*?)\s*$" % prefix, line)
                unset = re.match(r"\s*#\s*%s(\w+) is not set" % prefix, line)
                if m and m.group(1) in names:
                    values[m.group(1)] = m.group(2)
                elif unset and unset.group(1) in names:
                    values[unset.group(1)] = None
    return values


def c_define(name, value):
    """ESP-IDF's sdkconfig.h line for a value given in a file, or None when it writes none (n, not
    set) or the value is none of Kconfig's forms (bool, int, hex, quoted string)."""
    if value is None or value == "n":
        return None
    if value == "y":
        return "#define %s 1" % name
    if re.fullmatch(r"-?[0-9]+|0[xX][0-9a-fA-F]+", value):
        return "#define %s %s" % (name, value)
    if re.fullmatch(r'"(?:[^"\\]|\\.)*"', value):
        return "#define %s %s" % (name, value)
    return None


def read_renames(kconfig_path, prefix):
    """ESP-IDF's rename pairs (old name -> new name, without the prefix) from sdkconfig.rename next
    to the Kconfig file; none when there is no such file."""
    path = os.path.join(os.path.dirname(os.path.abspath(kconfig_path)), "sdkconfig.rename")
    renames = {}
    if not os.path.isfile(path):
        return renames
    with open(path) as f:
        for number, line in enumerate(f, 1):
            words = line.split("#", 1)[0].split()
            if not words:
                continue
            if len(words) != 2 or not all(w.startswith(prefix) for w in words):
                fail("%s:%d: not a pair %sOLD %sNEW (an inverted '!' one is not supported)" %
                     (path, number, prefix, prefix))
            renames[words[0][len(prefix):]] = words[1][len(prefix):]
    return renames


def renamed_file(path, renames, prefix, tmp):
    """path, or a copy in tmp with ESP-IDF's old names replaced by the new ones when it has any;
    also the old names it used."""
    pattern = re.compile(r"^(\s*(?:#\s*)?%s)(\w+)(?==| is not set)" % prefix)
    with open(path) as f:
        lines = f.readlines()
    used = []
    for i, line in enumerate(lines):
        m = pattern.match(line)
        if m and m.group(2) in renames:
            used.append(prefix + m.group(2))
            lines[i] = m.group(1) + renames[m.group(2)] + line[m.end():]
    if not used:
        return path, used
    copy = os.path.join(tmp, "%d-%s" % (len(os.listdir(tmp)), os.path.basename(path)))
    with open(copy, "w") as f:
        f.writelines(lines)
    return copy, used


def renamed_defines(renames, header, prefix):
    """sdkconfig.h's aliases of the old names, as ESP-IDF writes them: each old name whose new
    option the header defines."""
    defined = set(re.findall(r"^#define (\w+) ", header, re.M))
    return ["#define %s%s %s%s" % (prefix, old, prefix, new)
            for old, new in sorted(renames.items()) if prefix + new in defined]


def write_if_changed(path, text):
    """Leaves path untouched when it already holds text (no rebuild for an unchanged config)."""
    try:
        with open(path) as f:
            if f.read() == text:
                return
    except OSError:
        pass
    with open(path, "w") as f:
        f.write(text)


def kconfig_output(write, path):
    """What kconfiglib's write (write_autoconf or write_config) writes for path."""
    with tempfile.TemporaryDirectory() as tmp:
        out = os.path.join(tmp, os.path.basename(path))
        write(out)
        with open(out) as f:
            return f.read()


def main():
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--kconfig", required=True)
    ap.add_argument("--defaults", nargs="*", default=[])
    ap.add_argument("--sdkconfig", help="a complete sdkconfig, used instead of the defaults")
    ap.add_argument("--header", required=True)
    ap.add_argument("--config", required=True)
    args = ap.parse_args()

    os.environ.setdefault("IDF_TARGET", "esp32s3")
    kconf = kconfiglib.Kconfig(args.kconfig, warn_to_stderr=False)
    kconf.warn_assign_undef = True
    given_files = [args.sdkconfig] if args.sdkconfig else [f for f in args.defaults if f]
    prefix = kconf.config_prefix
    renames = read_renames(args.kconfig, prefix)
    tmp = tempfile.TemporaryDirectory()
    files, old_names = [], []
    for i, path in enumerate(given_files):
        if not os.path.isfile(path):
            fail("config file %s not found" % path)
        path, used = renamed_file(path, renames, prefix, tmp.name)
        files.append(path)
        old_names += used
        kconf.load_config(path, replace=(i == 0))
    not_simulated = check_user_values(kconf, files)
    check_component_rules(kconf)

    # ESP-IDF options the host lacks keep the values the files give them, so that code reading
    # them (CONFIG_ESP_INT_WDT_TIMEOUT_MS...) compiles as under ESP-IDF.
    given = given_values(files, {n[len(prefix):] for n in not_simulated}, prefix)
    defines, kept = [], []
    for name in sorted(given):
        line = c_define(prefix + name, given[name])
        if line:
            defines.append(line)
        kept.append("%s%s=%s" % (prefix, name, given[name]) if given[name] is not None
                    else "# %s%s is not set" % (prefix, name))
    header = kconfig_output(kconf.write_autoconf, args.header)
    config = kconfig_output(kconf.write_config, args.config)
    aliases = renamed_defines(renames, header, prefix)
    if aliases:
        header += ("\n/* List of deprecated options */\n" +
                   "".join(a + "\n" for a in aliases))
    if given:
        header += ("\n/* ESP-IDF options not simulated on the host: the values given, for code that "
                   "reads them */\n" + "".join(d + "\n" for d in defines))
        config += ("\n# ESP-IDF options not simulated on the host, as given\n" +
                   "".join(k + "\n" for k in kept))
    for path in (args.header, args.config):
        os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
    write_if_changed(args.header, header)
    write_if_changed(args.config, config)
    tmp.cleanup()
    if old_names:
        sys.stderr.write("gen_sdkconfig: note: old names taken as ESP-IDF renames them: %s\n" %
                         ", ".join("%s -> %s%s" % (o, prefix, renames[o[len(prefix):]])
                                   for o in sorted(set(old_names))))
    if not_simulated:
        shown = ", ".join(sorted(set(not_simulated))[:8])
        more = len(set(not_simulated)) - 8
        sys.stderr.write("gen_sdkconfig: note: not simulated on the host (their values kept in "
                         "sdkconfig.h): %s%s\n" % (shown, " and %d more" % more if more > 0 else ""))


if __name__ == "__main__":
    main()
