"""Choosing PCI devices for an instance's PCI requests, with Nova's NUMA affinity policies.

Devices are free unless used, and a physical function and its virtual functions exclude
each other (using one makes the others unavailable). A PF that has VFs listed is offered
only through its VFs. PFs are offered only to requests that ask for ``type-PF``.
Affinity, for the host cells the instance's guest cells landed on:

* ``required``: only devices on those cells;
* ``legacy`` (the default): those cells if they have enough, else devices with no NUMA
  node too;
* ``preferred``: the same, then any device, those cells first;
* ``socket``: those cells if enough, else devices on a cell of the same socket(s).
"""

from __future__ import annotations

from collections.abc import Collection, Sequence

from allotment.scheduler.topology.host import HostTopology, PciDevice
from allotment.scheduler.topology.request import PciRequest

__all__ = ["free_devices", "select_devices"]


def free_devices(host: HostTopology, used: Collection[str]) -> list[PciDevice]:
    """Devices nobody holds and whose PF/VF relatives nobody holds, in address order."""
    used_set = set(used)
    parents_with_vfs = {d.parent for d in host.pci_devices if d.type == "type-VF"}
    blocked_parents = {d.parent for d in host.pci_devices if d.type == "type-VF" and d.address in used_set}
    out = []
    for d in host.pci_devices:
        if d.address in used_set:
            continue
        if d.type == "type-PF" and (d.address in parents_with_vfs or d.address in blocked_parents):
            continue
        if d.type == "type-VF" and d.parent in used_set:
            continue
        out.append(d)
    return sorted(out, key=lambda d: d.address)


def _matches(device: PciDevice, request: PciRequest) -> bool:
    wants_pf = any(s.device_type == "type-PF" for s in request.specs)
    if device.type == "type-PF" and not wants_pf:
        return False
    return any((s.vendor_id is None or device.vendor_id == s.vendor_id)
               and (s.product_id is None or device.product_id == s.product_id)
               and (s.resource_class is None or device.rc == s.resource_class)
               and (s.device_type is None or s.device_type == device.type) for s in request.specs)


def _by_affinity(host: HostTopology, devices: list[PciDevice], request: PciRequest,
                 cells: Sequence[int] | None) -> list[PciDevice]:
    if not cells:
        return devices
    ids = set(cells)
    local = [d for d in devices if d.numa_node in ids]
    policy = request.numa_policy
    if policy == "required" or len(local) >= request.count:
        return local
    if policy == "socket":
        sockets = {host.cell(c).socket for c in ids}
        if any(c.socket is None for c in host.cells):
            return []
        return [d for d in devices if d.numa_node is not None and host.cell(d.numa_node).socket in sockets]
    near = [d for d in devices if d.numa_node in ids or d.numa_node is None]
    if policy == "legacy" or len(near) >= request.count:
        return near
    return sorted(devices, key=lambda d: d.numa_node not in ids)


def select_devices(host: HostTopology, used: Collection[str], requests: Sequence[PciRequest],
                   cells: Sequence[int] | None, allowed: Sequence[Collection[str] | None] | None = None
                   ) -> list[str] | None:
    """Addresses for every request in order (``count`` each), or None when one cannot be met.

    ``cells`` are the host cells the instance is on (None: no NUMA topology, no affinity).
    ``allowed``, one entry per request, limits a request to devices whose placement provider
    uuid is in the entry (the providers placement gave its request groups); None: any.
    """
    taken = set(used)
    chosen: list[str] = []
    for i, request in enumerate(requests):
        providers = allowed[i] if allowed is not None else None
        pool = [d for d in free_devices(host, taken) if _matches(d, request)
                and (providers is None or host.pci_providers.get(d.provider_address) in providers)]
        pool = _by_affinity(host, pool, request, cells)
        if len(pool) < request.count:
            return None
        for device in pool[:request.count]:
            taken.add(device.address)
            chosen.append(device.address)
    return chosen
