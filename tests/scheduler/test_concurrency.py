"""Several scheduler processes at once over one placement server and one registry database.

Each process (``spawn``, its own placement client and registry connection) places members of
one anti-affinity group and plain instances, all starting at the same moment. The hosts are
identical, so every process ranks them the same way and they all race for the same host
first: for placement capacity and for the group's hosts. Afterwards:

* no provider is used beyond its capacity (GET usages vs inventories);
* no two members of the group are on one host, in placement and in the registry;
* what placement holds is exactly what the processes report placed: nothing is left behind
  by the requests that failed and rolled back, and the registry records the same instances.
"""

from __future__ import annotations

import contextlib
import multiprocessing as mp
import os
import queue
import uuid as uuidlib
from collections import Counter
from collections.abc import Callable, Iterator
from typing import Any

import pytest

from allotment.bench.databases import fresh_database
from allotment.bench.servers import allotment_server
from allotment.client import connect
from allotment.scheduler.registry import Registry
from tests.conftest import require_backend
from tests.scheduler.fleet import Fleet, boot_spec, flavor, scheduling_worker

PROCESSES = int(os.environ.get("ALLOTMENT_SCHED_PROCESSES", 4))
HOSTS = 5
FLAVOR = flavor("two", vcpus=2, memory_mb=1024, root_gb=1)  # two per host (4 VCPU each)


@contextlib.contextmanager
def shared_fleet(backend: str) -> Iterator[tuple[str, str, Fleet]]:
    """A placement server (two workers) and a registry database, both fresh, with HOSTS identical hosts."""
    with fresh_database(backend) as placement_db, fresh_database(backend) as registry_url, \
            allotment_server(placement_db, workers=2) as server, \
            connect(server.url, timeout=60) as placement, Registry.open(registry_url) as registry:
        fleet = Fleet(placement, registry)
        fleet.add_hosts(HOSTS, vcpus=4, memory_mb=8192, disk_gb=100)
        yield server.url, registry_url, fleet


def run_schedulers(placement_url: str, registry_url: str, plans: list[list[dict[str, Any]]],
                   worker: Callable[..., None] | None = None) -> list[Any]:
    """One spawned process per plan running ``worker`` (default ``scheduling_worker``), released together."""
    worker = worker or scheduling_worker
    ctx = mp.get_context("spawn")
    barrier = ctx.Barrier(len(plans))
    results = ctx.Queue()
    procs = [ctx.Process(target=worker, args=(placement_url, registry_url, specs, seed, barrier, results),
                         daemon=True) for seed, specs in enumerate(plans)]
    for p in procs:
        p.start()
    outcomes: list[Any] = []
    try:
        for _ in procs:
            _, got = results.get(timeout=300)
            outcomes.extend(got)
    except queue.Empty:
        pytest.fail("a scheduler process did not report within 300 s")
    finally:
        for p in procs:
            p.join(30)
            if p.is_alive():
                p.kill()
    return outcomes


def plans_for(group: Any) -> list[list[dict[str, Any]]]:
    """Per process: a two-member request, a plain instance, a single member, two plain instances."""
    plans = []
    for _ in range(PROCESSES):
        plans.append([
            boot_spec(FLAVOR, num_instances=2, group=group).to_dict(),
            boot_spec(FLAVOR).to_dict(),
            boot_spec(FLAVOR, group=group).to_dict(),
            boot_spec(FLAVOR, num_instances=2).to_dict(),
        ])
    # Give every request its instance uuids up front, so the failed ones can be looked up too.
    for specs in plans:
        for spec in specs:
            spec["instance_uuids"] = [str(uuidlib.uuid4()) for _ in range(spec["num_instances"])]
    return plans


@pytest.mark.parametrize("backend", ["sqlite", "postgresql"])
def test_concurrent_schedulers_never_overcommit_nor_break_anti_affinity(backend: str) -> None:
    require_backend(backend)
    with shared_fleet(backend) as (placement_url, registry_url, fleet):
        group = fleet.add_group("anti-affinity")
        plans = plans_for(group)
        members = {u for specs in plans for spec in specs if spec["instance_group"] for u in spec["instance_uuids"]}

        outcomes = run_schedulers(placement_url, registry_url, plans)

        errors = [detail for kind, _, detail in outcomes if kind == "error"]
        assert errors == [], "\n".join(errors)
        placed = {u: h for kind, uuids, hosts in outcomes if kind == "placed" for u, h in zip(uuids, hosts)}
        refused = [u for kind, uuids, _ in outcomes if kind == "no_valid_host" for u in uuids]
        assert len(placed) + len(refused) == sum(len(s["instance_uuids"]) for p in plans for s in p)

        # Capacity: 5 hosts x 2 slots, more asked for than that; nothing beyond capacity.
        assert fleet.over_capacity() == []
        assert 0 < len(placed) <= 2 * HOSTS
        # What placement holds is what was reported placed, on the reported hosts.
        for instance, host in placed.items():
            assert fleet.host_of(instance) == host, instance
        assert all(fleet.allocations(u) == {} for u in refused)
        assert sum(usage.get("VCPU", 0) for usage in fleet.total_usage().values()) == 2 * len(placed)

        # Anti-affinity: at most one member per host, as placement and the registry both see it.
        placed_members = {u: h for u, h in placed.items() if u in members}
        assert placed_members, "no group member was placed at all"
        assert max(Counter(placed_members.values()).values()) == 1, placed_members
        assert fleet.registry.get_group(group.uuid).members == placed_members
        assert {i.uuid: i.host for i in fleet.registry.list_instances()} == placed
