"""What a host has: NUMA cells (shared and dedicated CPUs, thread siblings, memory, page sizes) and PCI devices.

Read from the document an operator or a compute agent registers (``HostTopology.from_dict``;
YAML or JSON)::

    cells:
      - id: 0
        socket: 0
        cpus: "0-1"              # shared CPUs (placement VCPU), Nova's cpu_shared_set
        pcpus: "2-7"             # dedicated CPUs (placement PCPU), Nova's cpu_dedicated_set
        siblings: ["2,3", "4,5", "6,7"]   # hyperthread siblings; default: every CPU alone
        memory_mb: 65536
        pages: [{size_kb: 4, total: 16252928}, {size_kb: 2048, total: 1024}]
    pci_devices:
      - {address: "0000:81:00.0", vendor_id: "8086", product_id: "1572", type: type-PF, numa_node: 0}
      - {address: "0000:81:02.0", vendor_id: "8086", product_id: "154c", type: type-VF,
         parent: "0000:81:00.0", numa_node: 0}

Errors are ``TopologyError`` (a 400) naming the field.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from allotment.scheduler.errors import InvalidInput
from allotment.scheduler.topology.cpuspec import CpuSpecError, format_cpus, parse_cpus

__all__ = ["DEVICE_TYPES", "HostCell", "HostTopology", "PageSize", "PciDevice", "TopologyError", "pci_resource_class"]

DEVICE_TYPES = ("type-PCI", "type-PF", "type-VF")
_ADDRESS = re.compile(r"^[0-9a-fA-F]{4}:[0-9a-fA-F]{2}:[0-9a-fA-F]{2}\.[0-7]$")
_HEX_ID = re.compile(r"^[0-9a-fA-F]{4}$")


class TopologyError(InvalidInput):
    """A host topology document is malformed; the message names the field."""


@dataclass(frozen=True)
class PageSize:
    size_kb: int
    total: int
    reserved: int = 0


@dataclass(frozen=True)
class HostCell:
    id: int
    cpus: frozenset[int]  # shared
    pcpus: frozenset[int]  # dedicated
    memory_mb: int
    siblings: tuple[frozenset[int], ...] = ()
    pages: tuple[PageSize, ...] = ()
    socket: int | None = None

    @property
    def threads_per_core(self) -> int:
        return max((len(s) for s in self.siblings), default=1) or 1

    def page(self, size_kb: int) -> PageSize | None:
        return next((p for p in self.pages if p.size_kb == size_kb), None)

    @property
    def smallest_page(self) -> int | None:
        return min((p.size_kb for p in self.pages), default=None)


@dataclass(frozen=True)
class PciDevice:
    address: str
    vendor_id: str
    product_id: str
    type: str = "type-PCI"
    parent: str | None = None  # a VF's physical function
    numa_node: int | None = None
    resource_class: str | None = None  # default CUSTOM_PCI_<VENDOR>_<PRODUCT>
    traits: tuple[str, ...] = ()

    @property
    def rc(self) -> str:
        return self.resource_class or pci_resource_class(self.vendor_id, self.product_id)

    @property
    def provider_address(self) -> str:
        """The address of the device whose placement provider holds this one (a VF's is its PF's)."""
        return self.parent if self.type == "type-VF" and self.parent else self.address


@dataclass(frozen=True)
class HostTopology:
    cells: tuple[HostCell, ...]
    pci_devices: tuple[PciDevice, ...] = ()
    # The provider uuid of each PCI provider address, filled when registered in placement.
    pci_providers: dict[str, str] = field(default_factory=dict)

    @functools.cached_property
    def shape(self) -> tuple[tuple[HostCell, ...], tuple[PciDevice, ...]]:
        """Everything but the provider uuids: hosts built alike have equal shapes (a memo key for fitting)."""
        return self.cells, self.pci_devices

    @functools.cached_property
    def address_of_provider(self) -> dict[str, str]:
        return {uuid: address for address, uuid in self.pci_providers.items()}

    def cell(self, cell_id: int) -> HostCell:
        return next(c for c in self.cells if c.id == cell_id)

    def device(self, address: str) -> PciDevice:
        return next(d for d in self.pci_devices if d.address == address)

    @property
    def total_pcpus(self) -> int:
        return sum(len(c.pcpus) for c in self.cells)

    @property
    def total_cpus(self) -> int:
        return sum(len(c.cpus) for c in self.cells)

    @property
    def total_memory_mb(self) -> int:
        return sum(c.memory_mb for c in self.cells)

    @property
    def has_smt(self) -> bool:
        return any(c.threads_per_core > 1 for c in self.cells)

    # ---- documents ---------------------------------------------------------------------

    @classmethod
    def from_dict(cls, data: Any) -> HostTopology:
        if not isinstance(data, Mapping):
            raise TopologyError(f"a host topology is an object with 'cells', got {type(data).__name__}")
        unknown = sorted(set(data) - {"cells", "pci_devices", "pci_providers"})
        if unknown:
            raise TopologyError(f"unknown host topology field(s): {', '.join(unknown)}")
        raw_cells = data.get("cells")
        if not isinstance(raw_cells, list) or not raw_cells:
            raise TopologyError("cells: a non-empty list of NUMA cells is required")
        cells = tuple(_cell(f"cells[{i}]", c) for i, c in enumerate(raw_cells))
        ids = [c.id for c in cells]
        if len(set(ids)) != len(ids):
            raise TopologyError("cells: two cells have the same id")
        seen: set[int] = set()
        for c in cells:
            overlap = (c.cpus | c.pcpus) & seen
            if overlap:
                raise TopologyError(f"cells: CPU(s) {format_cpus(overlap)} appear in two cells")
            seen |= c.cpus | c.pcpus
        raw_devices = data.get("pci_devices") or []
        if not isinstance(raw_devices, list):
            raise TopologyError("pci_devices: expected a list")
        devices = tuple(_device(f"pci_devices[{i}]", d, set(ids)) for i, d in enumerate(raw_devices))
        addresses = [d.address for d in devices]
        if len(set(addresses)) != len(addresses):
            raise TopologyError("pci_devices: two devices have the same address")
        by_address = {d.address: d for d in devices}
        for d in devices:
            if d.type == "type-VF":
                parent = by_address.get(d.parent or "")
                if parent is None or parent.type != "type-PF":
                    raise TopologyError(f"pci_devices: VF {d.address} names parent {d.parent!r}, which is not a PF "
                                        "listed here")
        providers = data.get("pci_providers") or {}
        if not isinstance(providers, Mapping) or not all(isinstance(v, str) for v in providers.values()):
            raise TopologyError("pci_providers: expected an object of address -> provider uuid")
        return cls(cells=cells, pci_devices=devices, pci_providers=dict(providers))

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {"cells": [], "pci_devices": []}
        for c in self.cells:
            cell: dict[str, Any] = {"id": c.id, "cpus": format_cpus(c.cpus), "pcpus": format_cpus(c.pcpus),
                                    "memory_mb": c.memory_mb,
                                    "siblings": [format_cpus(s) for s in c.siblings],
                                    "pages": [{"size_kb": p.size_kb, "total": p.total, "reserved": p.reserved}
                                              for p in c.pages]}
            if c.socket is not None:
                cell["socket"] = c.socket
            out["cells"].append(cell)
        for d in self.pci_devices:
            dev: dict[str, Any] = {"address": d.address, "vendor_id": d.vendor_id, "product_id": d.product_id,
                                   "type": d.type}
            for key in ("parent", "numa_node", "resource_class"):
                if getattr(d, key) is not None:
                    dev[key] = getattr(d, key)
            if d.traits:
                dev["traits"] = list(d.traits)
            out["pci_devices"].append(dev)
        if self.pci_providers:
            out["pci_providers"] = dict(self.pci_providers)
        return out


def pci_resource_class(vendor_id: str, product_id: str) -> str:
    """Nova's class for a PCI device in placement: ``CUSTOM_PCI_<VENDOR>_<PRODUCT>``, upper case."""
    return f"CUSTOM_PCI_{vendor_id.upper()}_{product_id.upper()}"


def _cell(where: str, data: Any) -> HostCell:
    if not isinstance(data, Mapping):
        raise TopologyError(f"{where}: expected an object")
    unknown = sorted(set(data) - {"id", "socket", "cpus", "pcpus", "siblings", "memory_mb", "pages"})
    if unknown:
        raise TopologyError(f"{where}: unknown field(s) {', '.join(unknown)}")
    cell_id = _int(f"{where}.id", data.get("id"))
    cpus = _cpus(f"{where}.cpus", data.get("cpus", ""))
    pcpus = _cpus(f"{where}.pcpus", data.get("pcpus", ""))
    if cpus & pcpus:
        raise TopologyError(f"{where}: CPU(s) {format_cpus(cpus & pcpus)} are both shared and dedicated")
    memory = _int(f"{where}.memory_mb", data.get("memory_mb"))
    raw_siblings = data.get("siblings") or []
    if not isinstance(raw_siblings, list):
        raise TopologyError(f"{where}.siblings: expected a list of CPU lists")
    siblings = tuple(frozenset(_cpus(f"{where}.siblings[{i}]", s)) for i, s in enumerate(raw_siblings))
    listed: set[int] = set()
    for s in siblings:
        if s & listed:
            raise TopologyError(f"{where}.siblings: CPU(s) {format_cpus(s & listed)} listed twice")
        listed |= s
    if listed - (cpus | pcpus):
        raise TopologyError(f"{where}.siblings: CPU(s) {format_cpus(listed - (cpus | pcpus))} are not in the cell")
    # A dedicated CPU no sibling set names is a core of its own.
    siblings += tuple(frozenset({c}) for c in sorted(pcpus - listed))
    raw_pages = data.get("pages") or []
    if not isinstance(raw_pages, list):
        raise TopologyError(f"{where}.pages: expected a list")
    pages = []
    for i, p in enumerate(raw_pages):
        if not isinstance(p, Mapping) or set(p) - {"size_kb", "total", "reserved"}:
            raise TopologyError(f"{where}.pages[{i}]: expected {{size_kb, total, reserved}}")
        page = PageSize(_int(f"{where}.pages[{i}].size_kb", p.get("size_kb"), minimum=1),
                        _int(f"{where}.pages[{i}].total", p.get("total")),
                        _int(f"{where}.pages[{i}].reserved", p.get("reserved", 0)))
        if page.reserved > page.total:
            raise TopologyError(f"{where}.pages[{i}]: more pages reserved than there are")
        pages.append(page)
    if len({p.size_kb for p in pages}) != len(pages):
        raise TopologyError(f"{where}.pages: a page size is listed twice")
    socket = data.get("socket")
    return HostCell(id=cell_id, cpus=frozenset(cpus), pcpus=frozenset(pcpus), memory_mb=memory,
                    siblings=tuple(sorted(siblings, key=min)), pages=tuple(sorted(pages, key=lambda p: p.size_kb)),
                    socket=None if socket is None else _int(f"{where}.socket", socket))


def _device(where: str, data: Any, cell_ids: set[int]) -> PciDevice:
    if not isinstance(data, Mapping):
        raise TopologyError(f"{where}: expected an object")
    unknown = sorted(set(data) - {"address", "vendor_id", "product_id", "type", "parent", "numa_node",
                                  "resource_class", "traits"})
    if unknown:
        raise TopologyError(f"{where}: unknown field(s) {', '.join(unknown)}")
    address = data.get("address")
    if not isinstance(address, str) or not _ADDRESS.match(address):
        raise TopologyError(f"{where}.address: expected DDDD:BB:SS.F, got {address!r}")
    ids = {}
    for key in ("vendor_id", "product_id"):
        value = data.get(key)
        if not isinstance(value, str) or not _HEX_ID.match(value):
            raise TopologyError(f"{where}.{key}: expected 4 hex digits, got {value!r}")
        ids[key] = value.lower()
    dev_type = data.get("type", "type-PCI")
    if dev_type not in DEVICE_TYPES:
        raise TopologyError(f"{where}.type: expected one of {', '.join(DEVICE_TYPES)}, got {dev_type!r}")
    parent = data.get("parent")
    if (dev_type == "type-VF") != (parent is not None):
        raise TopologyError(f"{where}.parent: a VF names its PF's address, other devices name none")
    numa_node = data.get("numa_node")
    if numa_node is not None:
        numa_node = _int(f"{where}.numa_node", numa_node)
        if numa_node not in cell_ids:
            raise TopologyError(f"{where}.numa_node: no cell has id {numa_node}")
    rc = data.get("resource_class")
    if rc is not None and (not isinstance(rc, str) or not re.fullmatch(r"[A-Z0-9_]+", rc)):
        raise TopologyError(f"{where}.resource_class: {rc!r} is not a resource class name")
    traits = data.get("traits") or []
    if not isinstance(traits, list) or not all(isinstance(t, str) and re.fullmatch(r"[A-Z0-9_]+", t) for t in traits):
        raise TopologyError(f"{where}.traits: expected a list of trait names")
    return PciDevice(address=address.lower(), vendor_id=ids["vendor_id"], product_id=ids["product_id"], type=dev_type,
                     parent=parent.lower() if isinstance(parent, str) else None, numa_node=numa_node,
                     resource_class=rc, traits=tuple(traits))


def _cpus(where: str, value: Any) -> set[int]:
    if isinstance(value, list) and all(isinstance(v, int) and not isinstance(v, bool) for v in value):
        return set(value)
    if isinstance(value, int) and not isinstance(value, bool):
        return {value}
    try:
        return parse_cpus(value)
    except CpuSpecError as exc:
        raise TopologyError(f"{where}: {exc}") from None


def _int(where: str, value: Any, minimum: int = 0) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
        raise TopologyError(f"{where}: expected an integer >= {minimum}, got {value!r}")
    return value
