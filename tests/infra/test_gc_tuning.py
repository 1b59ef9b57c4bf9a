"""The console script raises the garbage collector's thresholds before any command runs."""

from __future__ import annotations

import subprocess
import sys

from allotment.infra.gc_tuning import THRESHOLDS

# Replaces the click group so only what main() does before it is observed.
PROBE = ("import gc\n"
         "import allotment.cli.main as m\n"
         "m.cli = lambda: print(*gc.get_threshold())\n"
         "m.main()\n")


def test_the_console_script_tunes_the_collector_before_the_command() -> None:
    default = subprocess.run([sys.executable, "-c", "import gc; print(*gc.get_threshold())"],
                             capture_output=True, text=True, check=True).stdout.split()
    tuned = subprocess.run([sys.executable, "-c", PROBE], capture_output=True, text=True, check=True).stdout.split()
    assert tuple(map(int, tuned)) == THRESHOLDS
    assert tuned != default


def test_a_higher_threshold_set_before_is_kept() -> None:
    probe = "import gc; gc.set_threshold(10**6, 1, 1)\n" + PROBE
    tuned = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, check=True).stdout.split()
    assert tuple(map(int, tuned)) == (10**6, THRESHOLDS[1], THRESHOLDS[2])
