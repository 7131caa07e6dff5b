#!/usr/bin/env python3
"""CONFIG_SYSTEM_SERVICE_ISR_IN_IRAM's dependencies, read by kconfiglib as ESP-IDF's menuconfig
reads them, against stand-ins for the ESP-IDF options they name: with SPI_FLASH_AUTO_SUSPEND it
needs esp_timer's and libc's code kept in IRAM on ESP-IDF 5.5 and later (the LIBC choice exists),
and nothing more before (those options do not exist; the code stays in IRAM)."""
import os
import tempfile
import unittest

import kconfiglib

ROOT = os.path.abspath(os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))
OPTION = "SYSTEM_SERVICE_ISR_IN_IRAM"


def settable(esp_idf_options, values):
    """Whether the option can be set y, with the given ESP-IDF options defined and set."""
    with tempfile.TemporaryDirectory() as tmp:
        path = os.path.join(tmp, "Kconfig")
        with open(path, "w") as f:
            for name in esp_idf_options:
                f.write("config %s\n    bool \"%s\"\n" % (name, name))
            f.write("source \"%s\"\n" % os.path.join(ROOT, "Kconfig"))
        kconf = kconfiglib.Kconfig(path, warn=False)
    for name, value in values.items():
        kconf.syms[name].set_value(value)
    kconf.syms[OPTION].set_value(2)
    return kconf.syms[OPTION].tri_value == 2


V5_4 = ["SPI_FLASH_AUTO_SUSPEND"]
V5_5 = V5_4 + ["LIBC_NEWLIB", "LIBC_PICOLIBC", "ESP_TIMER_IN_IRAM", "LIBC_MISC_IN_IRAM",
               "FREERTOS_PLACE_ISR_FUNCTIONS_INTO_FLASH"]


class IsrInIram(unittest.TestCase):
    def test_without_auto_suspend_it_can_be_set_on_every_release(self):
        self.assertTrue(settable(V5_4, {"SPI_FLASH_AUTO_SUSPEND": 0}))
        self.assertTrue(settable(V5_5, {"SPI_FLASH_AUTO_SUSPEND": 0, "LIBC_NEWLIB": 2}))

    def test_before_5_5_auto_suspend_leaves_it_settable(self):
        self.assertTrue(settable(V5_4, {"SPI_FLASH_AUTO_SUSPEND": 2}))

    def test_from_5_5_auto_suspend_needs_timer_and_libc_in_iram(self):
        for libc in ("LIBC_NEWLIB", "LIBC_PICOLIBC"):
            base = {"SPI_FLASH_AUTO_SUSPEND": 2, libc: 2}
            self.assertFalse(settable(V5_5, base))
            self.assertFalse(settable(V5_5, dict(base, ESP_TIMER_IN_IRAM=2)))
            self.assertFalse(settable(V5_5, dict(base, LIBC_MISC_IN_IRAM=2)))
            both = dict(base, ESP_TIMER_IN_IRAM=2, LIBC_MISC_IN_IRAM=2)
            self.assertTrue(settable(V5_5, both))
            self.assertFalse(settable(V5_5, dict(both, FREERTOS_PLACE_ISR_FUNCTIONS_INTO_FLASH=2)))


if __name__ == "__main__":
    unittest.main()
