"""A host's topology in placement, as Nova models it: CPUs and memory on the root, PCI devices as children.

The root provider gets ``VCPU`` (the shared CPUs), ``PCPU`` (the dedicated CPUs) and
``MEMORY_MB`` (the cells' memory) inventories, keeping the allocation ratios and reserved
amounts it already had and every other class (``DISK_GB``, ...); ``HW_CPU_HYPERTHREADING``
when a cell has sibling threads, ``COMPUTE_SOCKET_PCI_NUMA_AFFINITY`` when every cell names
its socket. Each PCI device that is not a VF gets a child provider ``<host>_<address>``
(uuid derived from the root's and the address, so re-registering finds it again) with one
unit of ``CUSTOM_PCI_<VENDOR>_<PRODUCT>``, or, for a PF whose VFs are listed, one unit of
the VFs' class per VF; traits ``COMPUTE_MANAGED_PCI_DEVICE`` plus the device's own. NUMA
cells are not providers: the scheduler fits them (as Nova does), so no ``same_subtree`` is
needed. Children of the root that are not PCI devices of ours are kept as they are.
"""

from __future__ import annotations

import uuid as uuidlib

from allotment.client import Inventory, PlacementClient
from allotment.client.provider_tree import ProviderTree, SyncReport, update_from_provider_tree
from allotment.scheduler.registry import Registry
from allotment.scheduler.topology.host import HostTopology, PciDevice

__all__ = ["pci_provider_uuid", "register_topology", "sync_topology"]

_PCI_NAMESPACE = uuidlib.UUID("6b3d3c8e-3c51-4b4e-9a55-5d1f3f0c9e21")
_DEFAULT_RATIOS = {"VCPU": 16.0, "PCPU": 1.0, "MEMORY_MB": 1.5}


def pci_provider_uuid(root_uuid: str, address: str) -> str:
    return str(uuidlib.uuid5(_PCI_NAMESPACE, f"{root_uuid}/{address}"))


def sync_topology(client: PlacementClient, host_name: str, root_uuid: str,
                  topology: HostTopology) -> tuple[HostTopology, SyncReport]:
    """Make the host's tree in placement match ``topology``; the topology with its PCI provider uuids, and the report."""
    tree = ProviderTree()
    root = tree.new_root(host_name, root_uuid)
    _, existing = client.get_inventories(root_uuid)
    _, traits = client.get_provider_traits(root_uuid)
    _, aggregates = client.get_aggregates(root_uuid)
    inventory = {rc: inv for rc, inv in existing.items() if rc not in ("VCPU", "PCPU", "MEMORY_MB")}
    for rc, total in (("VCPU", topology.total_cpus), ("PCPU", topology.total_pcpus),
                      ("MEMORY_MB", topology.total_memory_mb)):
        if total:
            old = existing.get(rc)
            inventory[rc] = Inventory(total=total, reserved=min(old.reserved, total) if old else 0,
                                      allocation_ratio=old.allocation_ratio if old else _DEFAULT_RATIOS[rc])
    root.inventory = inventory
    wanted = set(traits) - {"HW_CPU_HYPERTHREADING", "COMPUTE_SOCKET_PCI_NUMA_AFFINITY"}
    if topology.has_smt:
        wanted.add("HW_CPU_HYPERTHREADING")
    if all(c.socket is not None for c in topology.cells):
        wanted.add("COMPUTE_SOCKET_PCI_NUMA_AFFINITY")
    root.traits = wanted
    root.aggregates = set(aggregates)

    providers: dict[str, str] = {}
    ours: set[str] = set()
    for device in topology.pci_devices:
        if device.type == "type-VF":
            continue
        uuid = pci_provider_uuid(root_uuid, device.address)
        ours.add(uuid)
        providers[device.address] = uuid
        child = tree.new_child(f"{host_name}_{device.address}", root_uuid, uuid)
        vfs = [d for d in topology.pci_devices if d.parent == device.address]
        child.inventory = _device_inventory(device, vfs)
        child.traits = {"COMPUTE_MANAGED_PCI_DEVICE", *device.traits, *(t for v in vfs for t in v.traits)}
    # Keep children someone else made (not devices of ours) exactly as placement has them.
    for p in client.list_providers(in_tree=root_uuid):
        if p.uuid == root_uuid or p.uuid in ours or p.parent_provider_uuid != root_uuid:
            continue
        _keep(client, tree, p.uuid, p.name, root_uuid)
    report = update_from_provider_tree(client, tree)
    return HostTopology(cells=topology.cells, pci_devices=topology.pci_devices, pci_providers=providers), report


def _device_inventory(device: PciDevice, vfs: list[PciDevice]) -> dict[str, Inventory]:
    if not vfs:
        return {device.rc: Inventory(total=1, max_unit=1)}
    counts: dict[str, int] = {}
    for vf in vfs:
        counts[vf.rc] = counts.get(vf.rc, 0) + 1
    return {rc: Inventory(total=n, max_unit=n) for rc, n in counts.items()}


def _keep(client: PlacementClient, tree: ProviderTree, uuid: str, name: str, parent: str) -> None:
    child = tree.new_child(name, parent, uuid)
    _, child.inventory = client.get_inventories(uuid)
    _, traits = client.get_provider_traits(uuid)
    child.traits = set(traits)
    _, aggregates = client.get_aggregates(uuid)
    child.aggregates = set(aggregates)
    for p in client.list_providers(in_tree=uuid):
        if p.parent_provider_uuid == uuid:
            _keep(client, tree, p.uuid, p.name, uuid)


def register_topology(client: PlacementClient, registry: Registry, host_name: str,
                      topology: HostTopology) -> tuple[HostTopology, SyncReport]:
    """Register a host's topology by hand: placement's tree first, then the registry (with the device providers).

    The host must be registered. Running it again with the same document changes nothing.
    """
    root_uuid = registry.get_host(host_name).provider_uuid
    synced, report = sync_topology(client, host_name, root_uuid, topology)
    registry.set_topology(host_name, synced)
    return synced, report
