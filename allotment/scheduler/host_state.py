"""HostState: what filters and weighers see of one compute host during one scheduling request.

Built per request by merging the host registry (service state, hypervisor facts, aggregates,
instances) with placement's answer (provider summaries and the allocation requests that
touch the host's tree). Filters and weighers only read it; the scheduler calls
``consume`` after a successful claim so later instances of the same request see it.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

__all__ = ["AggregateInfo", "HostState", "InstanceInfo", "ServiceState", "io_ops"]


@dataclass
class ServiceState:
    up: bool = True  # heartbeat within service_down_time and not forced down
    disabled: bool = False
    disabled_reason: str | None = None
    forced_down: bool = False
    last_heartbeat: datetime | None = None


@dataclass
class AggregateInfo:
    """A host aggregate of the scheduler's registry (its uuid is also the placement aggregate)."""

    uuid: str
    name: str
    metadata: dict[str, str] = field(default_factory=dict)  # "availability_zone", "filter_tenant_id", ...


@dataclass
class InstanceInfo:
    uuid: str
    flavor_name: str | None = None
    vcpus: int = 0
    memory_mb: int = 0
    root_gb: int = 0
    project_id: str | None = None
    image_id: str | None = None
    task_state: str | None = None  # "spawning", "resize_migrating", ... None when idle


@dataclass
class HostState:
    host: str  # service host name
    nodename: str  # hypervisor node name (one node per host here)
    uuid: str  # the host's placement root provider uuid
    cell: str | None = None
    service: ServiceState = field(default_factory=ServiceState)
    hypervisor_type: str | None = None  # "QEMU", "ironic", ...
    hypervisor_version: int | None = None  # e.g. 8002000 for 8.2.0
    hypervisor_hostname: str | None = None
    host_ip: str | None = None
    cpu_info: dict[str, Any] = field(default_factory=dict)  # {"arch": "x86_64", "features": [...], ...}
    # (architecture, hypervisor type, vm mode), e.g. ("x86_64", "qemu", "hvm")
    supported_instances: list[tuple[str, str, str]] = field(default_factory=list)
    stats: dict[str, str] = field(default_factory=dict)  # free-form facts reported by the host
    aggregates: list[AggregateInfo] = field(default_factory=list)
    instances: dict[str, InstanceInfo] = field(default_factory=dict)
    failed_builds: int = 0

    # From placement's provider summaries of the host's tree (root and descendants summed).
    vcpus_total: int = 0
    vcpus_used: int = 0
    cpu_allocation_ratio: float = 1.0
    total_usable_ram_mb: int = 0
    free_ram_mb: int = 0
    ram_allocation_ratio: float = 1.0
    total_usable_disk_gb: int = 0
    free_disk_mb: int = 0
    disk_allocation_ratio: float = 1.0
    # Allocation requests (placement JSON, 1.34 shape with "allocations" and "mappings")
    # that touch this host's tree, in placement's order.
    allocation_candidates: list[dict[str, Any]] = field(default_factory=list)

    # The host's NUMA/PCI topology (allotment.scheduler.topology.host.HostTopology) and what
    # instances hold on it (topology.usage.HostUsage); None when no topology is registered.
    # The usage may be shared with the registry snapshot: replace it, never edit it in place.
    numa_topology: Any = None
    numa_usage: Any = None

    limits: dict[str, Any] = field(default_factory=dict)
    weight: float = 0.0
    # How many times consume changed this host: lets weighing keep the raw values of the others.
    # Set by __init__ (a factory, not a class default): adding an attribute to a built
    # HostState later costs more than the weighing it would save.
    consumed: int = field(default_factory=int, init=False, repr=False, compare=False)

    @property
    def num_instances(self) -> int:
        return len(self.instances)

    @property
    def num_io_ops(self) -> int:
        """Instances busy with an I/O-heavy task (building, resizing, snapshotting, ...)."""
        return io_ops(self.instances)

    def consume(self, instance: InstanceInfo, resources: dict[str, int]) -> None:
        """Account for an instance just claimed here, so later picks of the same request see it."""
        self.vcpus_used += resources.get("VCPU", 0)
        self.free_ram_mb -= resources.get("MEMORY_MB", 0)
        self.free_disk_mb -= resources.get("DISK_GB", 0) * 1024
        self.consumed += 1
        self.instances[instance.uuid] = instance

    def __repr__(self) -> str:
        return f"HostState({self.host!r}, uuid={self.uuid!r}, weight={self.weight:.3f})"


def io_ops(instances: dict[str, InstanceInfo]) -> int:
    """How many of ``instances`` are busy with an I/O-heavy task (``HostState.num_io_ops``)."""
    # A plain loop: a host holds a few instances, and a generator plus sum() would cost more
    # than the count (this runs for every candidate host of every request).
    count = 0
    for instance in instances.values():
        if instance.task_state in IO_TASK_STATES:
            count += 1
    return count


# Task states Nova counts as I/O operations on a host.
IO_TASK_STATES = frozenset({
    "spawning", "resize_migrating", "rebuilding", "image_snapshot", "image_backup",
    "rescuing", "unshelving", "shelving_image_uploading",
})
