"""The fake hosts: one provider with VCPU, MEMORY_MB and DISK_GB in placement and one registry host each."""

from __future__ import annotations

import random
import uuid
from dataclasses import asdict, dataclass
from typing import Any

from allotment.client import Inventory, PlacementClient
from allotment.scheduler.registry import Registry

__all__ = ["HOST_FACTS", "FleetSpec", "Host", "build_fleet"]

# What a libvirt/QEMU compute reports, so ComputeCapabilities and ImageProperties filters pass.
HOST_FACTS = {
    "hypervisor_type": "QEMU",
    "hypervisor_version": 8002000,
    "cpu_info": {"arch": "x86_64"},
    "supported_instances": [["x86_64", "qemu", "hvm"]],
}


@dataclass(frozen=True)
class FleetSpec:
    hosts: int
    vcpus: int = 32
    memory_mb: int = 131072
    disk_gb: int = 2000
    cpu_allocation_ratio: float = 1.0
    ram_allocation_ratio: float = 1.0
    disk_allocation_ratio: float = 1.0

    def to_json(self) -> dict[str, Any]:
        return asdict(self)

    def inventories(self) -> dict[str, Inventory]:
        return {
            "VCPU": Inventory(total=self.vcpus, allocation_ratio=self.cpu_allocation_ratio),
            "MEMORY_MB": Inventory(total=self.memory_mb, allocation_ratio=self.ram_allocation_ratio),
            "DISK_GB": Inventory(total=self.disk_gb, allocation_ratio=self.disk_allocation_ratio),
        }

    def capacity(self) -> tuple[int, int, int]:
        """(VCPU, MEMORY_MB, DISK_GB) one host can give, as placement counts it."""
        return tuple(int((inv.total - inv.reserved) * inv.allocation_ratio)  # type: ignore[return-value]
                     for inv in self.inventories().values())


@dataclass
class Host:
    """A host as the simulator's ledger sees it: what is used on it and its state."""

    name: str
    uuid: str
    used_vcpus: int = 0
    used_memory_mb: int = 0
    used_disk_gb: int = 0
    failed: bool = False
    disabled: bool = False

    @property
    def in_service(self) -> bool:
        return not (self.failed or self.disabled)


def build_fleet(spec: FleetSpec, placement: PlacementClient, registry: Registry, *, prefix: str,
                rng: random.Random) -> list[Host]:
    """Create the hosts: provider and inventory in placement, then the registry entry (its first heartbeat)."""
    inventories = spec.inventories()
    hosts: list[Host] = []
    for i in range(spec.hosts):
        name = f"{prefix}{i:05d}"
        rp = str(uuid.UUID(int=rng.getrandbits(128), version=4))
        placement.create_provider(name, rp)
        placement.set_inventories(rp, 0, inventories)
        registry.register_host(name, rp, HOST_FACTS)
        hosts.append(Host(name, rp))
    return hosts
