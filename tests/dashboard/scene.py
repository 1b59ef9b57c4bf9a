"""A small real cloud for the dashboard tests: placement and the scheduler in-process, hosts in two zones.

    h1: 8 VCPU, 8192 MB, 100 GB in az1      h2: 4 VCPU, 4096 MB, 100 GB in az2
    h3: 4 VCPU, 4096 MB, 100 GB in az2, disabled
    h4: NUMA host, no zone: 2 nodes of 4 VCPU / 4096 MB, 100 GB on the root

One instance of ``boot`` (2 VCPU, 2048 MB, 20 GB) lands on h1 (most free RAM, h4's being split),
then a request for 64 VCPU is refused.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import pytest

from allotment.client import Inventory, PlacementClient
from allotment.scheduler.client import SchedulerClient
from allotment.scheduler.errors import NoValidHost
from tests.scheduler.fleet import boot_spec, flavor

BOOT = flavor("boot", vcpus=2, memory_mb=2048, root_gb=20)
HUGE = flavor("huge", vcpus=64, memory_mb=1024, root_gb=1)

def add_host(placement: PlacementClient, scheduler: SchedulerClient, name: str, *, disk_gb: int,
             vcpus: int = 0, memory_mb: int = 0, numa: Sequence[Mapping[str, int]] = ()) -> None:
    root = placement.create_provider(name)
    inventories = {"DISK_GB": Inventory(total=disk_gb)}
    if vcpus:
        inventories.update({"VCPU": Inventory(total=vcpus), "MEMORY_MB": Inventory(total=memory_mb)})
    placement.set_inventories(root.uuid, root.generation, inventories)
    for i, node in enumerate(numa):
        child = placement.create_provider(f"{name}_numa{i}", parent_uuid=root.uuid)
        placement.set_inventories(child.uuid, child.generation, {rc: Inventory(total=n) for rc, n in node.items()})
    scheduler.register_host(name, root.uuid)


def build(placement: PlacementClient, scheduler: SchedulerClient) -> None:
    """The hosts, zones and two decisions, through the two APIs."""
    add_host(placement, scheduler, "h1", vcpus=8, memory_mb=8192, disk_gb=100)
    add_host(placement, scheduler, "h2", vcpus=4, memory_mb=4096, disk_gb=100)
    add_host(placement, scheduler, "h3", vcpus=4, memory_mb=4096, disk_gb=100)
    add_host(placement, scheduler, "h4", disk_gb=100,
             numa=[{"VCPU": 4, "MEMORY_MB": 4096}, {"VCPU": 4, "MEMORY_MB": 4096}])
    for zone, hosts in (("az1", ["h1"]), ("az2", ["h2", "h3"])):
        agg = scheduler.create_aggregate(f"rack-{zone}", metadata={"availability_zone": zone})
        for h in hosts:
            scheduler.add_aggregate_host(agg.uuid, h)
    scheduler.set_host_status("h3", disabled=True, disabled_reason="maintenance")
    for name in ("h1", "h2", "h3", "h4"):
        scheduler.heartbeat(name)
    placed = scheduler.select_destinations(boot_spec(BOOT).to_dict())
    assert placed["selections"][0][0]["host"] == "h1", placed
    with pytest.raises(NoValidHost):
        scheduler.select_destinations(boot_spec(HUGE).to_dict())
