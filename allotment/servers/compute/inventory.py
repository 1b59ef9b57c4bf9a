"""A compute host's inventory file (YAML or JSON) and the ProviderTree it describes.

    VCPU: 16                      # a total, or {total, reserved, allocation_ratio, min_unit, max_unit, step_size}
    MEMORY_MB: {total: 32768, reserved: 512}
    DISK_GB: 500
    traits: [COMPUTE_STATUS_ENABLED]      # optional, on the root provider
    children:                             # optional device providers under the root
      - name: gpu0
        resources: {VGPU: 4}
        traits: [CUSTOM_GPU_A100]
    topology:                             # optional: NUMA cells and PCI devices, the document of
      cells: [...]                        # allotment/scheduler/topology/host.py
      pci_devices: [...]

Provider uuids are derived from the host and child names (uuid5), so a restarted agent
reports the same tree instead of creating a new one.

With a ``topology``, the topology gives the totals of ``VCPU`` (shared CPUs), ``PCPU``
(dedicated CPUs) and ``MEMORY_MB``: those entries may be left out, and when given only
their ``reserved`` and ``allocation_ratio`` count. The agent reports the topology (PCI
devices as child providers) as ``allotment host topology set`` does.
"""

from __future__ import annotations

import dataclasses
import uuid as uuidlib
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from allotment.client import Inventory
from allotment.client.provider_tree import ProviderTree
from allotment.scheduler.errors import InvalidInput
from allotment.scheduler.topology.host import HostTopology

__all__ = ["HostInventory", "InventoryError", "InventoryFile", "load_inventory", "provider_uuid"]

_NAMESPACE = uuidlib.UUID("0b4c3f4a-6e1d-4b58-9d3f-5a7e2c9b1d20")
_INVENTORY_FIELDS = {f.name for f in dataclasses.fields(Inventory)}
_REQUIRED = ("VCPU", "MEMORY_MB", "DISK_GB")
# Classes a topology owns: their totals come from the cells.
TOPOLOGY_CLASSES = ("VCPU", "PCPU", "MEMORY_MB")


class InventoryError(ValueError):
    """The inventory file is malformed; the message names the entry."""


def provider_uuid(host: str, child: str | None = None) -> str:
    return str(uuidlib.uuid5(_NAMESPACE, host if child is None else f"{host}/{child}"))


@dataclasses.dataclass(frozen=True)
class Device:
    name: str
    resources: dict[str, Inventory]
    traits: tuple[str, ...] = ()


@dataclasses.dataclass(frozen=True)
class HostInventory:
    resources: dict[str, Inventory]
    traits: tuple[str, ...] = ()
    children: tuple[Device, ...] = ()
    topology: HostTopology | None = None

    @classmethod
    def simple(cls, vcpus: int = 16, memory_mb: int = 32768, disk_gb: int = 500) -> HostInventory:
        return cls({"VCPU": Inventory(total=vcpus), "MEMORY_MB": Inventory(total=memory_mb),
                    "DISK_GB": Inventory(total=disk_gb)})

    @classmethod
    def from_dict(cls, data: Any) -> HostInventory:
        if not isinstance(data, Mapping):
            raise InventoryError("the inventory must be a mapping of resource classes to amounts")
        data = dict(data)
        traits = _names(data.pop("traits", []), "traits")
        children = data.pop("children", [])
        topology = _topology(data.pop("topology")) if "topology" in data else None
        resources = {rc: _inventory(rc, v) for rc, v in data.items()}
        required = _REQUIRED if topology is None else tuple(rc for rc in _REQUIRED if rc not in TOPOLOGY_CLASSES)
        missing = [rc for rc in required if rc not in resources]
        if missing:
            raise InventoryError(f"the inventory lacks {', '.join(missing)}")
        if not isinstance(children, list):
            raise InventoryError("children: a list of {name, resources, traits}")
        devices = []
        for i, child in enumerate(children):
            if not isinstance(child, Mapping) or not isinstance(child.get("name"), str) or not child["name"]:
                raise InventoryError(f"children[{i}]: needs a name")
            res = child.get("resources", {})
            if not isinstance(res, Mapping):
                raise InventoryError(f"children[{i}].resources: a mapping of resource classes to amounts")
            devices.append(Device(child["name"], {rc: _inventory(f"children[{i}].{rc}", v) for rc, v in res.items()},
                                  _names(child.get("traits", []), f"children[{i}].traits")))
        if len({d.name for d in devices}) != len(devices):
            raise InventoryError("children: names must be unique")
        return cls(resources, traits, tuple(devices), topology)

    def root_resources(self) -> dict[str, Inventory]:
        """The root provider's inventory: the file's, with the topology's totals of VCPU, PCPU and MEMORY_MB."""
        if self.topology is None:
            return dict(self.resources)
        out = {rc: inv for rc, inv in self.resources.items() if rc not in TOPOLOGY_CLASSES}
        for rc, total in zip(TOPOLOGY_CLASSES, (self.topology.total_cpus, self.topology.total_pcpus,
                                                self.topology.total_memory_mb)):
            given = self.resources.get(rc)
            if total:  # the same fields the topology sync writes, so a restart changes nothing
                out[rc] = Inventory(total=total, reserved=min(given.reserved, total) if given else 0,
                                    allocation_ratio=given.allocation_ratio if given else 1.0)
        return out

    def provider_tree(self, host: str) -> ProviderTree:
        tree = ProviderTree()
        root = provider_uuid(host)
        tree.new_root(host, root)
        tree.update_inventory(root, self.root_resources())
        tree.update_traits(root, set(self.traits))
        for device in self.children:
            child = provider_uuid(host, device.name)
            tree.new_child(f"{host}_{device.name}", root, child)
            tree.update_inventory(child, device.resources)
            tree.update_traits(child, set(device.traits))
        return tree


def _topology(value: Any) -> HostTopology:
    try:
        return HostTopology.from_dict(value)
    except InvalidInput as exc:
        raise InventoryError(f"topology: {exc.detail}") from None


def _names(value: Any, where: str) -> tuple[str, ...]:
    if not isinstance(value, list) or not all(isinstance(v, str) and v for v in value):
        raise InventoryError(f"{where}: a list of names")
    return tuple(value)


def _inventory(rc: str, value: Any) -> Inventory:
    if isinstance(value, bool):
        raise InventoryError(f"{rc}: expected a total or a mapping, not {value!r}")
    if isinstance(value, int):
        value = {"total": value}
    if not isinstance(value, Mapping):
        raise InventoryError(f"{rc}: expected a total or a mapping, not {value!r}")
    unknown = set(value) - _INVENTORY_FIELDS
    if unknown:
        raise InventoryError(f"{rc}: unknown field(s) {', '.join(sorted(unknown))}")
    if not isinstance(value.get("total"), int) or value["total"] < 1:
        raise InventoryError(f"{rc}: total must be a positive integer")
    return Inventory(**value)


def load_inventory(path: str | Path) -> HostInventory:
    """Read a YAML or JSON inventory file (JSON is YAML)."""
    import yaml

    try:
        text = Path(path).read_text()
    except OSError as exc:
        raise InventoryError(f"cannot read {path}: {exc.strerror or exc}") from None
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        raise InventoryError(f"{path} is not YAML or JSON: {exc}") from None
    return HostInventory.from_dict(data)


class InventoryFile:
    """An inventory file watched for changes: ``changed()`` is the new inventory once its mtime or size moved."""

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        self._seen = self._stamp()
        self.inventory = load_inventory(self.path)

    def _stamp(self) -> tuple[int, int] | None:
        try:
            st = self.path.stat()
        except OSError:
            return None
        return st.st_mtime_ns, st.st_size

    def changed(self) -> HostInventory | None:
        """The file's inventory if it changed since last read (InventoryError if it is now malformed)."""
        stamp = self._stamp()
        if stamp is None or stamp == self._seen:
            return None
        self._seen = stamp
        self.inventory = load_inventory(self.path)
        return self.inventory
