"""Fitting an instance's topology request onto a host: Nova's NUMA fitting, CPU packing and page size rules.

``fit_instance`` tries the host's cells for the guest's cells in every order (host cells
sorted first so that, with more host cells than guest cells, the emptier ones are tried
first, or the fuller ones when packing), fits each pair (``fit_cell``), then the PCI
requests on the chosen cells; the first arrangement that works is the answer (a ``Fit``,
which records exact pinning). No NUMA request and no PCI request: an empty ``Fit``.

As in Nova, the ``isolate`` thread policy fits a cell with hyperthreads only when its
shared and dedicated sets are the same (the legacy layout); otherwise placement's forbidden
``HW_CPU_HYPERTHREADING`` trait is what keeps such instances on hosts without SMT.
"""

from __future__ import annotations

import itertools
from collections.abc import Collection, Sequence
from dataclasses import dataclass

from allotment.scheduler.topology.host import HostCell, HostTopology
from allotment.scheduler.topology.pci import free_devices, select_devices
from allotment.scheduler.topology.request import PAGES_ANY, PAGES_LARGE, PAGES_SMALL, CellRequest, TopologyRequest
from allotment.scheduler.topology.usage import CellFit, CellUsage, Fit, HostUsage

__all__ = ["Limits", "fit_cell", "fit_instance", "pack_onto_cores"]


@dataclass(frozen=True)
class Limits:
    """Overcommit of shared CPUs and memory per cell (the host's allocation ratios); None: no check."""

    cpu_allocation_ratio: float = 1.0
    ram_allocation_ratio: float = 1.0


def fit_instance(host: HostTopology, usage: HostUsage, request: TopologyRequest, *, limits: Limits | None = None,
                 pack: bool = False, allowed_devices: Sequence[Collection[str] | None] | None = None) -> Fit | None:
    """The first arrangement of ``request`` on ``host`` given what ``usage`` holds, or None."""
    guest = request.cells
    if guest is None:
        if not request.pci:
            return Fit()
        alone = select_devices(host, usage.devices, request.pci, None, allowed_devices)
        return None if alone is None else Fit(devices=tuple(alone))
    if len(host.cells) < len(guest):
        return None
    cells = list(host.cells)
    if len(cells) > len(guest):
        cells = _order_cells(host, cells, usage, request, pack)
    failed: set[tuple[int, int]] = set()
    fitted: dict[tuple[int, int], CellFit] = {}
    for perm in itertools.permutations(cells, len(guest)):
        chosen: list[CellFit] = []
        for index, (host_cell, guest_cell) in enumerate(zip(perm, guest, strict=True)):
            reserved = 1 if request.pinned and request.emulator_threads_isolated and index == 0 else 0
            key = (host_cell.id, guest_cell.id)
            if key in failed:
                break
            got = fitted.get(key) if reserved == 0 else None
            if got is None:
                got = fit_cell(host_cell, usage.cell(host_cell.id), guest_cell, request, limits, reserved)
                if got is None:
                    # A pair that failed with an emulator CPU may fit without one: only cache the plain case.
                    if reserved == 0:
                        failed.add(key)
                    break
                if reserved == 0:
                    fitted[key] = got
            chosen.append(got)
        if len(chosen) != len(guest):
            continue
        devices: list[str] = []
        if request.pci:
            found = select_devices(host, usage.devices, request.pci, [c.host_cell for c in chosen], allowed_devices)
            if found is None:
                continue
            devices = found
        return Fit(cells=tuple(chosen), devices=tuple(devices))
    return None


def _order_cells(host: HostTopology, cells: list[HostCell], usage: HostUsage, request: TopologyRequest,
                 pack: bool) -> list[HostCell]:
    # Stable sorts, the last one deciding first: PCI presence, then CPU use, then free memory.
    cells = sorted(cells, key=lambda c: c.memory_mb - usage.cell(c.id).memory_mb, reverse=not pack)
    if request.pinned:
        cells = sorted(cells, key=lambda c: len(c.pcpus - usage.cell(c.id).pinned), reverse=not pack)
    else:
        cells = sorted(cells, key=lambda c: usage.cell(c.id).shared_cpus, reverse=pack)
    if host.pci_devices:
        per_cell: dict[int | None, int] = {}
        for d in free_devices(host, usage.devices):
            per_cell[d.numa_node] = per_cell.get(d.numa_node, 0) + 1
        cells = sorted(cells, key=lambda c: per_cell.get(c.id, 0), reverse=bool(request.pci))
    return cells


def _free_pages(host_cell: HostCell, used: CellUsage, size_kb: int, *, use_free: bool) -> int | None:
    """kB available in pages of ``size_kb`` on the cell; None when the cell has no such page size."""
    page = host_cell.page(size_kb)
    if page is None:
        return None
    count = page.total - page.reserved - used.pages.get(size_kb, 0) if use_free else page.total
    return max(0, count) * size_kb


def _can_fit_pages(host_cell: HostCell, used: CellUsage, size_kb: int, memory_kb: int, *, use_free: bool = True
                   ) -> bool:
    available = _free_pages(host_cell, used, size_kb, use_free=use_free)
    return available is not None and memory_kb <= available and memory_kb % size_kb == 0


def _page_for(host_cell: HostCell, used: CellUsage, guest: CellRequest, pagesize: int) -> int | None:
    sizes = sorted((p.size_kb for p in host_cell.pages), reverse=True)
    if pagesize == PAGES_SMALL:
        sizes = sizes[-1:]
    elif pagesize == PAGES_LARGE:
        sizes = sizes[:-1]
    elif pagesize != PAGES_ANY:
        sizes = [pagesize]
    return next((s for s in sizes if _can_fit_pages(host_cell, used, s, guest.memory_mb * 1024)), None)


def fit_cell(host_cell: HostCell, used: CellUsage, guest: CellRequest, request: TopologyRequest,
             limits: Limits | None = None, reserved: int = 0) -> CellFit | None:
    """``guest`` on ``host_cell`` (``used`` is what others hold there), or None; ``reserved`` emulator CPUs."""
    pinned = request.pinned
    memory_kb = guest.memory_mb * 1024
    pagesize_kb: int | None = None
    if request.pagesize:
        pagesize_kb = _page_for(host_cell, used, guest, request.pagesize)
        if pagesize_kb is None:
            return None
    elif host_cell.pages:
        smallest = host_cell.smallest_page
        assert smallest is not None
        # Small pages may be overcommitted, except under pinning (a legacy rule kept by Nova).
        if not _can_fit_pages(host_cell, used, smallest, memory_kb, use_free=pinned):
            return None
        pagesize_kb = smallest
    elif pinned:
        if host_cell.memory_mb - used.memory_mb < guest.memory_mb:
            return None
    elif host_cell.memory_mb < guest.memory_mb:
        return None

    # An instance may not overcommit against itself on one cell.
    if pinned and len(guest.pcpus) + reserved > len(host_cell.pcpus):
        return None
    if len(guest.cpus) > len(host_cell.cpus):
        return None
    pinning: tuple[tuple[int, int], ...] = ()
    taken: frozenset[int] = frozenset()
    emulator: frozenset[int] = frozenset()
    if pinned:
        if len(guest.pcpus) + reserved > len(host_cell.pcpus - used.pinned):
            return None
        packed = pack_onto_cores(host_cell, used.pinned, guest.pcpus, request.thread_policy, reserved)
        if packed is None:
            return None
        pinning, taken, emulator = packed
    if request.cpu_policy in (None, "shared", "mixed") and limits is not None:
        if used.shared_cpus + len(guest.cpus) > len(host_cell.cpus) * limits.cpu_allocation_ratio:
            return None
        if used.memory_mb + guest.memory_mb > host_cell.memory_mb * limits.ram_allocation_ratio:
            return None
    return CellFit(host_cell=host_cell.id, guest_cell=guest.id, pinning=pinning, taken=taken | emulator,
                   emulator=emulator, shared_cpus=len(guest.cpus), memory_mb=guest.memory_mb, pagesize_kb=pagesize_kb)


def pack_onto_cores(host_cell: HostCell, pinned: Collection[int], vcpus: Collection[int], thread_policy: str | None,
                    reserved: int = 0) -> tuple[tuple[tuple[int, int], ...], frozenset[int], frozenset[int]] | None:
    """Pin ``vcpus`` to free dedicated CPUs of the cell: ((vcpu, cpu) pairs, CPUs taken, emulator CPUs), or None.

    As Nova packs: siblings preferred (the most threads per core first) for ``prefer`` and no
    policy, falling back to any free CPUs; at least two threads per core for ``require``; one
    thread of fully free cores for ``isolate``, whose siblings are then taken too.
    """
    free = set(host_cell.pcpus) - set(pinned)
    free_siblings = [sorted(s & free) for s in host_cell.siblings]
    threads_per_core = host_cell.threads_per_core
    by_threads: dict[int, list[list[int]]] = {}
    for sib in free_siblings:
        for n in range(1, len(sib) + 1):
            by_threads.setdefault(n, []).append(sib)
    wanted = sorted(vcpus)

    def pinning_for(threads: int, cores: list[list[int]]) -> list[tuple[int, int]] | None:
        if threads * len(cores) < len(wanted):
            return None
        usable = itertools.chain.from_iterable(core[:threads] for core in cores)
        return list(zip(wanted, usable, strict=False))

    def emulator_for(cores: list[list[int]], pins: list[tuple[int, int]], isolate: bool) -> set[int] | None:
        if not reserved:
            return set()
        used_cpus = {cpu for _, cpu in pins}
        left: list[list[int]] = []
        for core in cores:
            if used_cpus & set(core):
                if isolate:
                    continue
                core = [c for c in core if c not in used_cpus]
            left.append(core)
        spare = list(itertools.chain.from_iterable(left))[:reserved]
        return set(spare) if len(spare) == reserved else None

    pins: list[tuple[int, int]] | None = None
    emulator: set[int] | None = None
    if thread_policy == "isolate":
        if threads_per_core not in by_threads:
            return None
        if threads_per_core != 1 and host_cell.cpus != host_cell.pcpus:
            return None
        pins = pinning_for(1, by_threads[threads_per_core])
        if pins is None:
            return None
        emulator = emulator_for(by_threads.get(1, []), pins, isolate=True)
        if emulator is None:
            return None
        taken: set[int] = set()
        for cpu in {c for _, c in pins} | emulator:
            taken |= next((set(s) for s in host_cell.siblings if cpu in s), {cpu})
        return tuple(pins), frozenset(taken), frozenset(emulator)
    if thread_policy == "require" and threads_per_core <= 1:
        return None
    for threads in sorted(by_threads, reverse=True):
        if thread_policy == "require" and threads <= 1:
            continue
        pins = pinning_for(threads, by_threads[threads])
        if pins is None:
            continue
        emulator = emulator_for(by_threads[1], pins, isolate=False)
        if emulator is None:
            pins = None
            continue
        break
    if pins is None and thread_policy != "require":
        singles = [[cpu] for core in by_threads.get(1, []) for cpu in core]
        pins = pinning_for(1, singles)
        if pins is not None:
            emulator = emulator_for(singles, pins, isolate=False)
    if pins is None or emulator is None:
        return None
    return tuple(pins), frozenset({cpu for _, cpu in pins} | emulator), frozenset(emulator)
