"""Memory and CPU of a server process tree, read from /proc (Linux only).

The sampler polls the server process and all its descendants (gunicorn-style
workers, and grandchildren should a launcher sit in between) for VmRSS,
VmHWM and, where the kernel offers ``smaps_rollup``, PSS. PSS splits pages
shared by forked workers between them, so its sum is the fairer figure for
a pre-fork server; the RSS sum counts shared pages once per process.
"""

from __future__ import annotations

import os
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

__all__ = ["ProcessSampler", "cpu_seconds", "descendants", "read_memory_kb"]

_PROC = Path("/proc")
_TICKS = os.sysconf("SC_CLK_TCK") if hasattr(os, "sysconf") else 100


def _stat_fields(pid: int) -> list[str] | None:
    """Fields of /proc/PID/stat after the command name (field 3 onwards)."""
    try:
        raw = (_PROC / str(pid) / "stat").read_text()
    except OSError:
        return None
    # The command name is in parentheses and may itself contain spaces or ')'.
    return raw[raw.rindex(")") + 2 :].split()


def descendants(root: int) -> list[int]:
    """``root`` and every live process below it."""
    children: dict[int, list[int]] = {}
    for entry in _PROC.iterdir():
        if not entry.name.isdigit():
            continue
        fields = _stat_fields(int(entry.name))
        if fields is None:
            continue
        children.setdefault(int(fields[1]), []).append(int(entry.name))
    found, todo = [], [root]
    while todo:
        pid = todo.pop()
        found.append(pid)
        todo.extend(children.get(pid, ()))
    return found


def read_memory_kb(pid: int, pss: bool = True) -> dict[str, int]:
    """VmRSS and VmHWM (and, if asked and available, Pss) of one process, in kB; {} if it is gone.

    Pss costs the kernel a page-table walk (~2.5 ms for a 100 MB process, 50 times
    the cost of the status file), so the sampler asks for it less often.
    """
    out: dict[str, int] = {}
    try:
        for line in (_PROC / str(pid) / "status").read_text().splitlines():
            key, _, value = line.partition(":")
            if key in ("VmRSS", "VmHWM"):
                out[key] = int(value.split()[0])
    except OSError:
        return {}
    if not pss:
        return out
    try:
        for line in (_PROC / str(pid) / "smaps_rollup").read_text().splitlines():
            if line.startswith("Pss:"):
                out["Pss"] = int(line.split()[1])
                break
    except OSError:
        pass
    return out


def cpu_seconds(pids: list[int]) -> dict[int, float]:
    """User + system CPU seconds consumed so far by each live process in ``pids``."""
    out = {}
    for pid in pids:
        fields = _stat_fields(pid)
        if fields is not None:
            # utime and stime are fields 14 and 15 of stat, 12 and 13 after the name.
            out[pid] = (int(fields[11]) + int(fields[12])) / _TICKS
    return out


def cpu_delta(before: dict[int, float], after: dict[int, float]) -> float:
    """CPU seconds spent between two :func:`cpu_seconds` readings (new processes count whole)."""
    return sum(t - before.get(pid, 0.0) for pid, t in after.items())


@dataclass
class ProcessSampler:
    """Background thread sampling the memory of a process tree until stopped.

    RSS every ``interval``; PSS and the list of processes every ``slow_every``
    (both cost far more to read). VmHWM is the kernel's own per-process peak, so
    it misses nothing between samples.
    """

    root_pid: int
    interval: float = 0.2
    slow_every: float = 2.0
    peak_rss_total_kb: int = 0
    peak_pss_total_kb: int | None = None
    hwm_kb: dict[int, int] = field(default_factory=dict)
    samples: int = 0
    max_processes: int = 0
    _stop: threading.Event = field(default_factory=threading.Event, repr=False)
    _thread: threading.Thread | None = field(default=None, repr=False)

    def start(self) -> ProcessSampler:
        self._thread = threading.Thread(target=self._loop, name="rss-sampler", daemon=True)
        self._thread.start()
        return self

    def stop(self) -> dict[str, float | int | None]:
        self._stop.set()
        if self._thread is not None:
            self._thread.join()
        self.sample(descendants(self.root_pid), with_pss=True)
        return self.figures()

    def _loop(self) -> None:
        pids: list[int] = []
        next_slow = time.monotonic()
        while not self._stop.is_set():
            slow = time.monotonic() >= next_slow
            if slow:
                pids = descendants(self.root_pid)
                next_slow = time.monotonic() + self.slow_every
            self.sample(pids, with_pss=slow)
            self._stop.wait(self.interval)

    def sample(self, pids: list[int], with_pss: bool = True) -> None:
        rss = 0
        pss: int | None = 0 if with_pss else None
        alive = 0
        for pid in pids:
            mem = read_memory_kb(pid, pss=with_pss)
            if not mem:
                continue
            alive += 1
            rss += mem.get("VmRSS", 0)
            self.hwm_kb[pid] = max(self.hwm_kb.get(pid, 0), mem.get("VmHWM", 0))
            if pss is not None:
                pss = pss + mem["Pss"] if "Pss" in mem else None
        self.samples += 1
        self.max_processes = max(self.max_processes, alive)
        self.peak_rss_total_kb = max(self.peak_rss_total_kb, rss)
        if pss is not None and alive:
            self.peak_pss_total_kb = max(self.peak_pss_total_kb or 0, pss)

    def figures(self) -> dict[str, float | int | None]:
        mb = 1024.0
        return {
            "peak_rss_total_mb": round(self.peak_rss_total_kb / mb, 1),
            "peak_pss_total_mb": None if self.peak_pss_total_kb is None else round(self.peak_pss_total_kb / mb, 1),
            "peak_hwm_max_mb": round(max(self.hwm_kb.values(), default=0) / mb, 1),
            "peak_hwm_sum_mb": round(sum(self.hwm_kb.values()) / mb, 1),
            "processes": self.max_processes,
            "samples": self.samples,
        }
