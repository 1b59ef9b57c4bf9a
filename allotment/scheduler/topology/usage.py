"""What instances hold on a host's topology (pinned CPUs, shared CPUs, memory and pages per cell, PCI devices),
and the record of one instance's fit (``Fit``), which the registry stores as its claim."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

__all__ = ["CellFit", "CellUsage", "Fit", "HostUsage"]


@dataclass(frozen=True)
class CellFit:
    """One guest cell placed on one host cell."""

    host_cell: int
    guest_cell: int
    pinning: tuple[tuple[int, int], ...] = ()  # (guest vCPU, host CPU), sorted by guest vCPU
    taken: frozenset[int] = frozenset()  # host CPUs no one else may pin (pinned, siblings under isolate, emulator)
    emulator: frozenset[int] = frozenset()  # host CPUs reserved for emulator threads
    shared_cpus: int = 0  # guest vCPUs floating over the cell's shared CPUs
    memory_mb: int = 0
    pagesize_kb: int | None = None  # page size the memory comes from (None: the host has no page sizes)


@dataclass(frozen=True)
class Fit:
    cells: tuple[CellFit, ...] = ()
    devices: tuple[str, ...] = ()  # PCI addresses

    @property
    def taken_cpus(self) -> frozenset[int]:
        return frozenset().union(*(c.taken for c in self.cells))

    def to_dict(self) -> dict[str, Any]:
        return {
            "cells": [{"host_cell": c.host_cell, "guest_cell": c.guest_cell,
                       "pinning": [list(p) for p in c.pinning], "taken": sorted(c.taken),
                       "emulator": sorted(c.emulator), "shared_cpus": c.shared_cpus, "memory_mb": c.memory_mb,
                       "pagesize_kb": c.pagesize_kb} for c in self.cells],
            "devices": list(self.devices),
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Fit:
        return cls(
            cells=tuple(CellFit(host_cell=c["host_cell"], guest_cell=c["guest_cell"],
                                pinning=tuple((int(a), int(b)) for a, b in c.get("pinning", [])),
                                taken=frozenset(c.get("taken", [])), emulator=frozenset(c.get("emulator", [])),
                                shared_cpus=c.get("shared_cpus", 0), memory_mb=c.get("memory_mb", 0),
                                pagesize_kb=c.get("pagesize_kb")) for c in data.get("cells", [])),
            devices=tuple(data.get("devices", [])),
        )


@dataclass
class CellUsage:
    pinned: set[int] = field(default_factory=set)
    shared_cpus: int = 0
    memory_mb: int = 0
    pages: dict[int, int] = field(default_factory=dict)  # size_kb -> pages used


@dataclass
class HostUsage:
    cells: dict[int, CellUsage] = field(default_factory=dict)
    devices: set[str] = field(default_factory=set)

    def cell(self, cell_id: int) -> CellUsage:
        found = self.cells.get(cell_id)
        if found is None:
            found = self.cells[cell_id] = CellUsage()
        return found

    def add(self, fit: Fit) -> None:
        for c in fit.cells:
            used = self.cell(c.host_cell)
            used.pinned |= c.taken
            used.shared_cpus += c.shared_cpus
            used.memory_mb += c.memory_mb
            if c.pagesize_kb:
                used.pages[c.pagesize_kb] = used.pages.get(c.pagesize_kb, 0) + (c.memory_mb * 1024) // c.pagesize_kb
        self.devices.update(fit.devices)

    @classmethod
    def of(cls, fits: Iterable[Fit]) -> HostUsage:
        usage = cls()
        for fit in fits:
            usage.add(fit)
        return usage

    def key(self) -> tuple[Any, ...]:
        """A hashable fingerprint: equal usages give equal keys (a memo key for fitting)."""
        return (tuple(sorted((cid, frozenset(u.pinned), u.shared_cpus, u.memory_mb, tuple(sorted(u.pages.items())))
                             for cid, u in self.cells.items() if u.pinned or u.shared_cpus or u.memory_mb or u.pages)),
                frozenset(self.devices))

    def copy(self) -> HostUsage:
        return HostUsage({k: CellUsage(set(v.pinned), v.shared_cpus, v.memory_mb, dict(v.pages))
                          for k, v in self.cells.items()}, set(self.devices))
