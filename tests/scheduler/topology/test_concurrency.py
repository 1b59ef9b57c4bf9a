"""Several scheduler processes pinning dedicated CPUs and claiming PCI devices on a few hosts at once.

Every process has its own placement client (direct, over the one placement database) and
registry connection and a snapshot that goes stale as the others claim; they all start at
the same moment and rank the hosts alike, so they race for the same CPUs. Afterwards, on
SQLite, PostgreSQL and MariaDB:

* no host CPU is pinned by two instances and no device is held twice (the fits, not just
  the database's keys, are checked);
* no cell gives more memory or pages than it has, and placement's PCPU usage is exactly
  the pinned CPUs (plus emulator threads) of the placed instances;
* every placed instance has exactly one topology claim and every refused one has none.
"""

from __future__ import annotations

import os
import random
import uuid as uuidlib
from collections import Counter
from typing import Any

import pytest

from allotment.bench.databases import fresh_database
from allotment.client import direct
from allotment.scheduler.registry import Registry
from allotment.scheduler.topology.host import HostTopology
from allotment.scheduler.topology.placement import register_topology
from tests.conftest import require_backend
from tests.scheduler.fleet import Fleet, boot_spec, flavor, scheduler_config
from tests.scheduler.test_concurrency import run_schedulers

PROCESSES = int(os.environ.get("ALLOTMENT_SCHED_PROCESSES", 4))
HOSTS = 3
ALIASES = [{"name": "gpu", "vendor_id": "10de", "product_id": "1eb8", "numa_policy": "preferred"}]
OPTIONS: dict[str, Any] = {"enabled_filters": ["ComputeFilter", "NUMATopologyFilter", "PciPassthroughFilter"],
                           "pci_alias": ALIASES}
TOPOLOGY = {
    "cells": [{"id": 0, "socket": 0, "cpus": "0", "pcpus": "1-4", "memory_mb": 4096,
               "pages": [{"size_kb": 4, "total": 524288}, {"size_kb": 2048, "total": 512}]},
              {"id": 1, "socket": 0, "cpus": "5", "pcpus": "6-9", "memory_mb": 4096,
               "pages": [{"size_kb": 4, "total": 524288}, {"size_kb": 2048, "total": 512}]}],
    "pci_devices": [{"address": "0000:3b:00.0", "vendor_id": "10de", "product_id": "1eb8", "numa_node": 0},
                    {"address": "0000:af:00.0", "vendor_id": "10de", "product_id": "1eb8", "numa_node": 1}],
}
FLAVORS = [
    flavor("pin1", vcpus=1, memory_mb=512, extra_specs={"hw:cpu_policy": "dedicated"}),
    flavor("pin2-gpu", vcpus=2, memory_mb=1024, extra_specs={"hw:cpu_policy": "dedicated",
                                                              "pci_passthrough:alias": "gpu:1"}),
    flavor("mixed", vcpus=2, memory_mb=512, extra_specs={"hw:cpu_policy": "mixed", "hw:cpu_dedicated_mask": "1"}),
    flavor("huge", vcpus=1, memory_mb=512, extra_specs={"hw:cpu_policy": "dedicated", "hw:mem_page_size": "2MB"}),
]


def worker(placement_url: str, registry_url: str, specs: list[dict[str, Any]], seed: int, barrier: Any,
           results: Any) -> None:
    import traceback

    from allotment.scheduler.errors import NoValidHost
    from allotment.scheduler.service import Scheduler
    from allotment.scheduler.spec import RequestSpec

    outcomes: list[tuple[str, list[str], Any]] = []
    try:
        with direct(placement_url) as placement, \
                Registry.open(registry_url, migrate=False, heartbeat_refresh=0) as registry:
            scheduler = Scheduler(placement, registry, scheduler_config(**OPTIONS), rng=random.Random(seed))
            registry.refresh()
            barrier.wait(120)
            for data in specs:
                spec = RequestSpec.from_dict(data)
                try:
                    result = scheduler.select_destinations(spec, return_alternates=False)
                    outcomes.append(("placed", result.instance_uuids, result.hosts))
                except NoValidHost as exc:
                    outcomes.append(("no_valid_host", spec.instance_uuids, exc.reason))
                except Exception:  # noqa: BLE001 - reported to the parent
                    outcomes.append(("error", spec.instance_uuids, traceback.format_exc()))
    except BaseException:  # noqa: BLE001 - reported to the parent
        outcomes.append(("error", [], traceback.format_exc()))
    results.put((seed, outcomes))


@pytest.mark.parametrize("backend", ["sqlite", "postgresql", "mysql"])
def test_concurrent_schedulers_never_pin_a_cpu_or_give_a_device_twice(backend: str) -> None:
    require_backend(backend)
    with fresh_database(backend) as placement_url, fresh_database(backend) as registry_url, \
            direct(placement_url) as placement, Registry.open(registry_url) as registry:
        fleet = Fleet(placement, registry)
        for i in range(HOSTS):
            fleet.add_host(f"cn{i}", vcpus=2, memory_mb=8192)
            register_topology(placement, registry, f"cn{i}", HostTopology.from_dict(TOPOLOGY))
        rng = random.Random(7)
        plans = [[boot_spec(rng.choice(FLAVORS), instance_uuids=[str(uuidlib.uuid4())]).to_dict()
                  for _ in range(8)] for _ in range(PROCESSES)]

        outcomes = run_schedulers(placement_url, registry_url, plans, worker)

        errors = [detail for kind, _, detail in outcomes if kind == "error"]
        assert errors == [], "\n".join(errors)
        placed = {u: h for kind, uuids, hosts in outcomes if kind == "placed" for u, h in zip(uuids, hosts)}
        refused = [u for kind, uuids, _ in outcomes if kind == "no_valid_host" for u in uuids]
        assert len(placed) + len(refused) == PROCESSES * 8
        assert len(placed) >= HOSTS * 4, "the hosts should have filled up"
        assert refused, "more was asked for than fits: some requests must be refused"

        topology = HostTopology.from_dict(TOPOLOGY)
        for i in range(HOSTS):
            name = f"cn{i}"
            _, claims = registry.get_topology(name)
            assert set(claims) == {u for u, h in placed.items() if h == name}
            cpus: Counter[int] = Counter()
            devices: Counter[str] = Counter()
            memory: Counter[int] = Counter()
            pages: Counter[int] = Counter()
            for doc in claims.values():
                for c in doc["cells"]:
                    cpus.update(c["taken"])
                    memory[c["host_cell"]] += c["memory_mb"]
                    if c["pagesize_kb"] == 2048:
                        pages[c["host_cell"]] += c["memory_mb"] // 2
                devices.update(doc["devices"])
            assert max(cpus.values(), default=1) == 1, cpus
            assert max(devices.values(), default=1) == 1, devices
            for cell in topology.cells:
                assert memory[cell.id] <= cell.memory_mb
                assert pages[cell.id] <= 512
                assert set(cpus) & cell.cpus == set()
            usage = placement.provider_usages(fleet.roots[name])
            assert usage.get("PCPU", 0) == sum(cpus.values())
        assert all(registry.topology_claims_of(u) == {} for u in refused)
