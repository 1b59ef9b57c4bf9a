"""Compact builders for host cells, usage and topology requests in the fitting tests."""

from __future__ import annotations

from collections.abc import Iterable, Sequence

from allotment.scheduler.topology.host import HostCell, HostTopology, PageSize, PciDevice
from allotment.scheduler.topology.request import CellRequest, PciAlias, PciRequest, TopologyRequest
from allotment.scheduler.topology.usage import CellUsage, HostUsage

SMALL_PAGES = ((4, 524288),)  # 2 GiB of 4 KiB pages, as in Nova's test cells


def cell(cell_id: int, *, cpus: Iterable[int] = (), pcpus: Iterable[int] = (), memory: int = 2048,
         siblings: Sequence[Iterable[int]] | None = None, pages: Sequence[tuple[int, int]] = (),
         socket: int | None = None) -> HostCell:
    pset = frozenset(pcpus)
    sibs = tuple(frozenset(s) for s in siblings) if siblings is not None else tuple(
        frozenset({c}) for c in sorted(pset))
    return HostCell(id=cell_id, cpus=frozenset(cpus), pcpus=pset, memory_mb=memory, siblings=sibs,
                    pages=tuple(PageSize(size, total) for size, total in pages), socket=socket)


def host(*cells: HostCell, devices: Sequence[PciDevice] = ()) -> HostTopology:
    return HostTopology(cells=tuple(cells), pci_devices=tuple(devices))


def usage(per_cell: dict[int, dict[str, object]] | None = None, devices: Iterable[str] = ()) -> HostUsage:
    out = HostUsage(devices=set(devices))
    for cell_id, values in (per_cell or {}).items():
        out.cells[cell_id] = CellUsage(pinned=set(values.get("pinned", ())),  # type: ignore[call-overload]
                                       shared_cpus=int(values.get("shared", 0)),  # type: ignore[call-overload]
                                       memory_mb=int(values.get("memory", 0)))  # type: ignore[call-overload]
    return out


def request(*cells: tuple[Iterable[int], Iterable[int], int], policy: str | None = "dedicated",
            threads: str | None = None, emulator: str | None = None, pagesize: int | None = None,
            pci: Sequence[PciRequest] = ()) -> TopologyRequest:
    return TopologyRequest(
        cells=tuple(CellRequest(i, frozenset(c), frozenset(p), m) for i, (c, p, m) in enumerate(cells)),
        cpu_policy=policy, thread_policy=threads, pagesize=pagesize, emulator_threads_policy=emulator,
        pci=tuple(pci))


def pci_request(vendor: str, product: str, count: int = 1, policy: str = "legacy",
                device_type: str | None = None) -> PciRequest:
    return PciRequest("a", count, (PciAlias("a", vendor, product, device_type),), policy)


def device(address: str, numa_node: int | None, *, vendor: str = "8086", product: str = "1520",
           dev_type: str = "type-PCI", parent: str | None = None) -> PciDevice:
    return PciDevice(address=address, vendor_id=vendor, product_id=product, type=dev_type, parent=parent,
                     numa_node=numa_node)
