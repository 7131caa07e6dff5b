#!/usr/bin/env python3
"""Check that the ISR entry points run from IRAM only (CONFIG_SYSTEM_SERVICE_ISR_IN_IRAM).

Reads the Xtensa assembly of the component's sources (gcc -S, -ffunction-sections), follows every
direct call and every symbol a function loads (l32r from its literal pool) from the entry points,
and fails when a function reached is not in an IRAM section (.iram1.*), when one loads the address
of constant data left in flash (.rodata*, string literals), or when it calls something outside the
files that is not on ALLOWED (ESP-IDF functions that ESP-IDF itself keeps in IRAM, ROM functions).

A reference that the code only follows outside an interrupt is listed in TASK_ONLY with the reason;
the check does not follow it. Indirect calls (the pools' misuse hook) are not followed: the hook's
owner places it.

usage: iram_check.py FILE.s... (entry points and lists below)
"""
import re
import sys

# The ISR entry points (IRAM with the option), and the heap monitor's failed-allocation hook, which
# ESP-IDF's heap (itself in IRAM) calls, maybe with the cache off: always IRAM_ATTR.
ENTRIES = ["system_event_post_from_isr", "memory_pool_alloc_isr", "memory_pool_free_isr",
           "on_alloc_failed"]

# Outside the component: in IRAM or ROM in every ESP-IDF build this option is offered for
# (freertos/linker.lf with FREERTOS_PLACE_ISR_FUNCTIONS_INTO_FLASH off; esp_timer with
# ESP_TIMER_IN_IRAM; libgcc's lib2funcs in IRAM, esp_libc/src/system_libs.lf; memcpy/memset in ROM).
ALLOWED = {
    "xPortInIsrContext", "xPortEnterCriticalTimeout", "vPortExitCritical", "vPortEnterCritical",
    "esp_timer_get_time", "xQueueGiveFromISR", "xQueueGenericSendFromISR", "vPortYieldFromISR",
    "vPortYieldOtherCore", "xPortGetCoreID", "esp_cpu_get_core_id",
    "memcpy", "memset", "memmove", "memcmp",
}
# Only the stand-in compiler needs these: Debian's lx106 GCC has no S32C1I, so it calls library
# atomics where ESP-IDF's esp32s3 GCC emits the instruction; 64-bit helpers are libgcc's.
ALLOWED_PATTERNS = [re.compile(p) for p in (r"^__atomic_\w+$", r"^__sync_\w+$", r"^__emutls_\w+$",
                                             r"^__(u?div|u?mod|ashl|ashr|lshr|mul|clz|ctz)\w*[sdt]i3$")]

# What the ISR paths call only outside an interrupt, with the guard that ensures it (by callee:
# which caller holds the call depends on inlining, hence on the optimisation level).
TASK_ONLY = {
    "report_log": "memory_pool.c report(): only when !kraken_port_in_isr()",
    "heap_alloc": "memory_pool.c alloc_class_empty/alloc_beyond: only when neither isr nor "
                  "kraken_port_in_isr()",
    "setup_and_wait": "memory_pool.c alloc_beyond: only when !isr (isr includes kraken_port_in_isr())",
    "kraken_port_heap_free": "memory_pool.c free_outside: a heap block is freed only when !isr",
    "kraken_port_sem_give": "kraken_port_sem_give_from_isr: only when !xPortInIsrContext()",
    "xQueueGenericSend": "kraken_port_sem_give_from_isr (kraken_port_sem_give inlined): as above",
    "return_spent": "event_bus.c post(): only when !isr || !kraken_port_in_isr()",
    "memory_pool_alloc": "event_bus.c take_heap: an ISR post is refused first (TOO_LARGE)",
    "memory_pool_free": "event_bus.c free_payload: heap payloads only, which an ISR post never has",
    "start_lazily": "event_bus.c enter_slow: may_start is false for an ISR post",
    "system_event_bus_init": "event_bus.c enter_slow (start_lazily inlined): as start_lazily",
    "wait_left_ms": "event_bus.c take_block/post_slow: may_wait is false for an ISR post",
    "kraken_port_delay_ms": "event_bus.c take_block/post_slow: may_wait is false for an ISR post",
    "kraken_port_sem_take": "event_bus.c take_block/post_slow: may_wait is false for an ISR post",
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
    return functions, sections


CLONE = re.compile(r"[$.](constprop|isra|part|cold)[$.]?\d*")


def base(name):
    """A function's name without GCC's clone suffixes (report$constprop$0 -> report)."""
    return CLONE.split(name)[0]


def check(paths, entries=ENTRIES):
    """The problems found, and the functions reached, from `entries` in the assembly files."""
    functions, sections = parse(paths)
    problems, seen, todo = [], set(), list(entries)
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
            if base(ref) in TASK_ONLY or re.match(r"^-?\d+$", ref):
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


def main(paths):
    problems, reached = check(paths)
    for p in problems:
        print("IRAM: " + p)
    print("-- %d function(s) reachable from %s; %d problem(s)" % (
        len(reached), ", ".join(ENTRIES), len(problems)))
    if problems:
        print("   reached: " + " ".join(reached))
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
