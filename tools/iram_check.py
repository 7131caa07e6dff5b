#!/usr/bin/env python3
"""Check that the ISR entry points run from IRAM only (CONFIG_SYSTEM_SERVICE_ISR_IN_IRAM).

Reads the Xtensa assembly of the component's sources (gcc -S, -ffunction-sections), follows every
direct call and every symbol a function loads (l32r from its literal pool) from the entry points,
and fails when a function reached is not in an IRAM section (.iram1.*), when one loads the address
of constant data left in flash (.rodata*, string literals), or when it calls something outside the
files that is not on ALLOWED (ESP-IDF functions that ESP-IDF itself keeps in IRAM, ROM functions).

A call that the code makes only outside an interrupt is listed in TASK_ONLY, by caller and callee,
with the guard that ensures it; the check does not follow it. Indirect calls (the pools' misuse
hook) are not followed: the hook's owner places it.

usage: iram_check.py [--entries NAME,NAME...] FILE.s...   (default entry points: ENTRIES below)
"""
import re
import sys

# The ISR entry points (IRAM with the option), and the heap monitor's failed-allocation hook, which
# ESP-IDF's heap (itself in IRAM) calls, maybe with the cache off: always IRAM_ATTR.
ENTRIES = ["system_event_post_from_isr", "memory_pool_alloc_isr", "memory_pool_alloc_isr_margin",
           "memory_pool_free_isr", "memory_pool_free_batch_isr", "memory_pool_class_of",
           "memory_pool_class_free", "memory_pool_get_stats", "on_alloc_failed"]

# Outside the component, in IRAM or ROM in every ESP-IDF build the option can be set in (its
# Kconfig dependency keeps SPI_FLASH_AUTO_SUSPEND builds, where these may move to flash, out):
# FreeRTOS's FromISR and critical-section functions (freertos/linker.lf), esp_timer_get_time
# (ESP_TIMER_IN_IRAM), memcpy/memset (ROM).
ALLOWED = {
    "xPortInIsrContext", "xPortEnterCriticalTimeout", "vPortExitCritical", "vPortEnterCritical",
    "esp_timer_get_time", "xQueueGiveFromISR", "xQueueGenericSendFromISR", "vPortYieldFromISR",
    "vPortYieldOtherCore", "xPortGetCoreID", "esp_cpu_get_core_id",
    "memcpy", "memset", "memmove", "memcmp", "esp_rom_delay_us",
}
# Library helpers: __atomic_* calls (ESP-IDF 5.3+ builds an ESP32-S3 with PSRAM with
# -mdisable-hardware-atomics, so atomics call libc's stdatomic.c, in IRAM with LIBC_MISC_IN_IRAM;
# the stand-in compiler, without S32C1I, calls them always), __emutls_* (the stand-in's TLS; ESP-IDF
# uses THREADPTR, inline), and 32/64-bit arithmetic helpers (libgcc's lib2funcs in IRAM, or ROM:
# esp32s3.rom.libgcc.ld).
ALLOWED_PATTERNS = [re.compile(p) for p in (r"^__atomic_\w+$", r"^__sync_\w+$", r"^__emutls_\w+$",
                                             r"^__(u?div|u?mod|ashl|ashr|lshr|mul|clz|ctz)\w*[sdt]i3$")]

# Calls an ISR path makes only outside an interrupt, by (caller, callee) - clone suffixes dropped;
# the caller depends on inlining, hence on the optimisation level - with the guard that ensures it.
# Any other call to something outside IRAM fails the check.
_NOT_ISR_POST = "an ISR post passes isr = true"
_NO_WAIT = "take_block/post_slow: may_wait is false for an ISR post"
_NO_START = "enter_slow: may_start is false for an ISR post (start_lazily inlined at -Os/-O2)"
_TASK_GIVE = "wake_dispatcher(isr, ...) gives from a task only when isr is false; " + _NOT_ISR_POST
TASK_ONLY = {
    ("report_info", "report_log"): "only when !kraken_port_in_isr()",
    ("alloc_beyond", "heap_alloc"): "only when neither isr nor kraken_port_in_isr()",
    ("alloc_class_empty", "heap_alloc"): "only when neither isr nor kraken_port_in_isr()",
    ("alloc_beyond", "setup_and_wait"): "only when !isr (isr includes kraken_port_in_isr())",
    ("free_outside", "free_heap_block"): "only when !isr (isr includes kraken_port_in_isr())",
    ("kraken_port_sem_give_from_isr", "kraken_port_sem_give"): "only when !xPortInIsrContext()",
    ("kraken_port_sem_give_from_isr", "xQueueGenericSend"): "as above, sem_give inlined",
    ("wake_dispatcher", "kraken_port_sem_give"): _TASK_GIVE,
    ("post_slow", "kraken_port_sem_give"): _TASK_GIVE + " (wake_dispatcher inlined); post_slow's "
                                           "own give of room, likewise only when isr is false",
    ("system_event_post_from_isr", "return_spent"): "post(): only if !isr || !kraken_port_in_isr()",
    ("free_payload", "memory_pool_free"): "heap payloads only, which take_heap refuses an ISR post",
    ("take_heap", "memory_pool_alloc"): "take_heap refuses an ISR post first",
    ("enter_slow", "start_lazily"): _NO_START,
    ("enter_slow", "system_event_bus_init"): _NO_START,
    ("enter_slow", "kraken_port_delay_ms"): _NO_START,
    ("take_block", "wait_left_ms"): _NO_WAIT,
    ("take_block", "kraken_port_delay_ms"): _NO_WAIT,
    ("take_block", "kraken_port_sem_take"): _NO_WAIT,
    ("post_slow", "wait_left_ms"): _NO_WAIT,
    ("post_slow", "kraken_port_delay_ms"): _NO_WAIT,
    ("post_slow", "kraken_port_sem_take"): _NO_WAIT,
}

SECTION = re.compile(r"^\s*\.section\s+([^,\s]+)")
SIMPLE_SECTION = re.compile(r"^\s*\.(text|data|bss)\s*$")
LABEL = re.compile(r"^([A-Za-z_.$][\w.$]*):")
TYPE_FUNC = re.compile(r"^\s*\.type\s+([\w.$]+),\s*@function")
CALL = re.compile(r"\bcall(?:0|4|8|12)\s+([\w.$]+)")
LITERAL = re.compile(r"^\s*\.literal\s+(\.LC\d+),\s*([\w.$]+)")
L32R = re.compile(r"\bl32r\s+\w+,\s*(\.LC\d+)")
COMM = re.compile(r"^\s*\.(?:comm|lcomm)\s+([\w.$]+)")


def local(path, name):
    """Labels .L* belong to their file: keyed with it."""
    return path + ":" + name if name.startswith(".L") else name


def parse(paths):
    functions = {}   # name -> {"section", "refs": set}
    duplicates = set()
    sections = {}    # symbol -> section it is defined in
    for path in paths:
        literals, funcs_here, section, current = {}, set(), ".text", None
        body = {}    # function -> list of .LC literal labels and direct callees
        with open(path) as f:
            for line in f:
                m = SECTION.match(line) or SIMPLE_SECTION.match(line)
                if m:
                    section = m.group(1) if m.group(1).startswith(".") else "." + m.group(1)
                    continue
                m = TYPE_FUNC.match(line)
                if m:
                    funcs_here.add(m.group(1))
                    continue
                m = COMM.match(line)
                if m:
                    sections[m.group(1)] = ".bss"
                    continue
                m = LITERAL.match(line)
                if m:
                    literals[m.group(1)] = m.group(2)
                    continue
                m = LABEL.match(line)
                if m:
                    name = m.group(1)
                    sections[local(path, name)] = section
                    if name in funcs_here:
                        current = name
                        if name in functions:  # a static of the same name in two files
                            duplicates.add(name)
                        functions[name] = {"section": section, "refs": set()}
                        body[name] = []
                    continue
                if current is None:
                    continue
                for m in CALL.finditer(line):
                    body[current].append(("call", m.group(1)))
                for m in L32R.finditer(line):
                    body[current].append(("lit", m.group(1)))
        for name, items in body.items():
            for kind, what in items:
                if kind == "call":
                    functions[name]["refs"].add(what)
                elif what in literals:
                    functions[name]["refs"].add(local(path, literals[what]))
    return functions, sections, duplicates


CLONE = re.compile(r"[$.](constprop|isra|part|cold)[$.]?\d*")


def base(name):
    """A function's name without GCC's clone suffixes (report$constprop$0 -> report)."""
    return CLONE.split(name)[0]


def check(paths, entries=ENTRIES):
    """The problems found, and the functions reached, from `entries` in the assembly files."""
    functions, sections, duplicates = parse(paths)
    problems, seen, todo = [], set(), list(entries)
    for name in sorted(duplicates):
        problems.append("%s is defined in two files: the check cannot tell them apart" % name)
    for e in entries:
        if e not in functions:
            problems.append("entry point %s not found" % e)
    while todo:
        name = todo.pop()
        if name in seen:
            continue
        seen.add(name)
        fn = functions.get(name)
        if fn is None:
            continue
        if not fn["section"].startswith(".iram1"):
            problems.append("%s is in %s, not in IRAM" % (name, fn["section"]))
        for ref in sorted(fn["refs"]):
            if (base(name), base(ref)) in TASK_ONLY or re.match(r"^-?\d+$", ref):
                continue  # only outside an interrupt; or a number from the literal pool
            if ref in functions:
                todo.append(ref)
            elif ref in sections:
                sec = sections[ref]
                label = ref.split(":")[-1]
                if label.startswith(".L") and not label.startswith(".LC"):
                    if not sec.startswith(".iram1"):  # a code label: in the function's own section
                        problems.append("%s loads %s, code in %s" % (name, ref, sec))
                elif sec.startswith(".rodata") or (label.startswith(".LC")
                                                   and not sec.startswith(".dram")):
                    problems.append("%s loads %s, constant data in flash (%s)" % (name, ref, sec))
            elif ref not in ALLOWED and not any(p.match(ref) for p in ALLOWED_PATTERNS):
                problems.append("%s calls or loads %s, outside the component and not known to be "
                                "in IRAM" % (name, ref))
    return problems, sorted(n for n in seen if n in functions)


def main(args):
    entries = ENTRIES
    if args[:1] == ["--entries"]:
        entries, args = args[1].split(","), args[2:]
    problems, reached = check(args, entries)
    for p in problems:
        print("IRAM: " + p)
    print("-- %d function(s) reachable from %d entry points; %d problem(s)" % (
        len(reached), len(entries), len(problems)))
    if problems:
        print("   reached: " + " ".join(reached))
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
