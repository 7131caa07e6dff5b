#!/usr/bin/env python3
"""tools/iram_check.py on small Xtensa assembly files written here: what it must find (code or
constants left in flash, calls outside IRAM) and what it must accept (IRAM code, RAM data, ESP-IDF's
IRAM functions, calls made only outside an interrupt). The real sources are checked against
ESP-IDF by tools/esp-idf-check.sh; this runs in CI."""
import importlib.util
import os
import tempfile
import unittest

HERE = os.path.dirname(os.path.abspath(__file__))
spec = importlib.util.spec_from_file_location(
    "iram_check", os.path.join(HERE, "..", "tools", "iram_check.py"))
iram_check = importlib.util.module_from_spec(spec)
spec.loader.exec_module(iram_check)


def function(name, section, body, literals=""):
    return ("\t.section\t%s,\"ax\",@progbits\n%s\t.align\t4\n\t.global\t%s\n"
            "\t.type\t%s, @function\n%s:\n\tentry\tsp, 32\n%s\tretw.n\n"
            % (section, literals, name, name, name, body))


ENTRY = "system_event_post_from_isr"
STRING = "\t.section\t.rodata.str1.1,\"aMS\",@progbits,1\n.LC9:\n\t.string\t\"hello\"\n"
BSS = "\t.section\t.bss.bus,\"aw\",@nobits\nbus:\n\t.zero\t64\n"


class IramCheck(unittest.TestCase):
    def check(self, *files, entries=(ENTRY,)):
        paths = []
        with tempfile.TemporaryDirectory() as d:
            for i, text in enumerate(files):
                path = os.path.join(d, "f%d.s" % i)
                with open(path, "w") as f:
                    f.write(text)
                paths.append(path)
            return iram_check.check(paths, list(entries))[0]

    def test_iram_code_ram_data_and_esp_idf_iram_functions_pass(self):
        src = BSS + function("helper", ".iram1.2", "\tcall8\tmemcpy\n") + function(
            ENTRY, ".iram1.1", "\tl32r\ta8, .LC1\n\tcall8\thelper\n\tcall8\txQueueGiveFromISR\n",
            "\t.literal .LC1, bus+8\n")
        self.assertEqual(self.check(src), [])

    def test_a_callee_left_in_flash_is_found_even_two_calls_down(self):
        src = function("leaf", ".text.leaf", "") + function("mid", ".iram1.2", "\tcall8\tleaf\n") + \
            function(ENTRY, ".iram1.1", "\tcall8\tmid\n")
        problems = self.check(src)
        self.assertEqual(len(problems), 1)
        self.assertIn("leaf is in .text.leaf", problems[0])

    def test_the_entry_point_itself_must_be_in_iram(self):
        self.assertIn("not in IRAM", self.check(function(ENTRY, ".text." + ENTRY, ""))[0])

    def test_a_string_or_table_in_flash_is_found(self):
        src = STRING + "\t.section\t.rodata.names,\"a\"\nnames:\n\t.word\t1\n" + function(
            ENTRY, ".iram1.1", "\tl32r\ta2, .LC1\n\tl32r\ta3, .LC2\n",
            "\t.literal .LC1, .LC9\n\t.literal .LC2, names\n")
        problems = self.check(src)
        self.assertEqual(len(problems), 2)
        self.assertTrue(any(".LC9" in p for p in problems))
        self.assertTrue(any("names" in p for p in problems))

    def test_a_call_outside_the_component_not_known_in_iram_is_found(self):
        problems = self.check(function(ENTRY, ".iram1.1", "\tcall8\tesp_log_write\n"))
        self.assertEqual(len(problems), 1)
        self.assertIn("esp_log_write", problems[0])

    def test_calls_made_only_outside_an_interrupt_are_not_followed(self):
        src = function("report_log", ".text.report_log", "\tcall8\tesp_log_write\n") + \
            function("heap_alloc$constprop$0", ".text.heap_alloc", "") + \
            function("report_info", ".iram1.3", "\tcall8\treport_log\n") + \
            function("alloc_beyond$constprop$0", ".iram1.2",
                     "\tcall8\theap_alloc$constprop$0\n") + \
            function(ENTRY, ".iram1.1", "\tcall8\treport_info\n\tcall8\talloc_beyond$constprop$0\n")
        self.assertEqual(self.check(src), [])

    def test_a_waived_callee_called_from_another_caller_is_found(self):
        # report_info -> report_log is waived (report_info tests the context first); a new
        # caller is not
        src = function("report_log", ".text.report_log", "") + \
            function(ENTRY, ".iram1.1", "\tcall8\treport_log\n")
        problems = self.check(src)
        self.assertEqual(len(problems), 1)
        self.assertIn("report_log is in .text.report_log", problems[0])

    def test_two_functions_of_one_name_are_reported(self):
        src = function(ENTRY, ".iram1.1", "\tcall8\thelper\n") + function("helper", ".iram1.2", "")
        problems = self.check(src, function("helper", ".text.helper", ""))
        self.assertTrue(any("helper is defined in two files" in p for p in problems))

    def test_labels_belong_to_their_file(self):
        # .LC9 is a string in flash in the first file, and RAM data in the second, where it is used
        other = "\t.section\t.dram1.3,\"aw\"\n.LC9:\n\t.word\t0\n" + function(
            ENTRY, ".iram1.1", "\tl32r\ta2, .LC1\n", "\t.literal .LC1, .LC9\n")
        self.assertEqual(self.check(STRING, other), [])

    def test_a_missing_entry_point_is_reported(self):
        self.assertIn("entry point system_event_post_from_isr not found",
                      self.check(function("other", ".iram1.1", ""))[0])


if __name__ == "__main__":
    unittest.main()
