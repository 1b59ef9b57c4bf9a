"""``numa``: scheduling dedicated-CPU, mixed, huge-page and PCI instances onto host topology (allotment only).

Setup (not timed): H = ``--providers`` compute hosts, each a root provider with DISK_GB,
registered in a scheduler registry of its own (a fresh SQLite file) and given a topology
through ``register_topology`` (placement tree and registry): 2 NUMA cells of 4 shared and
12 dedicated CPUs (6 sibling pairs), 64 GiB and 8,192 pages of 2 MiB each, and 4 PCI
devices (a GPU and a NIC per cell, each its own child provider).

Then, with the NUMATopologyFilter and PciPassthroughFilter enabled and the default
weighers (PCIWeigher included), ``--requests`` rounds of one 1-instance request of each
flavor of ``FLAVORS``: p50 and p99 per instance over all of them, and per flavor, and the p50 of
each stage the scheduler times. An
audit reads every host's topology claims back: no CPU pinned twice, no device given
twice, no cell's memory or pages exceeded, and placement's PCPU usage on each host equal
to the CPUs the registry says are pinned there.
"""

from __future__ import annotations

import random
import tempfile
import time
from collections import Counter
from pathlib import Path
from typing import Any

from allotment.bench.stats import percentile
from allotment.bench.workloads.base import Context, Figure, Workload, WorkloadResult
from allotment.bench.workloads.schedule import STAGES
from allotment.bench.workloads.trees import seeded_uuid
from allotment.client import Inventory, connect
from allotment.scheduler.config import SchedulerConfig
from allotment.scheduler.errors import NoValidHost
from allotment.scheduler.registry import Registry
from allotment.scheduler.service import Scheduler
from allotment.scheduler.spec import Flavor, RequestSpec
from allotment.scheduler.topology.host import HostTopology
from allotment.scheduler.topology.placement import register_topology

__all__ = ["FLAVORS", "TOPOLOGY", "WORKLOAD", "run"]

HOST_DOWN_TIME = 3600.0
ALIASES = [{"name": "gpu", "vendor_id": "10de", "product_id": "1eb8", "numa_policy": "required"},
           {"name": "nic", "vendor_id": "8086", "product_id": "158b"}]
FILTERS = ["ComputeFilter", "NUMATopologyFilter", "PciPassthroughFilter"]


def _cell(n: int) -> dict[str, Any]:
    base = 16 * n
    return {"id": n, "socket": n, "cpus": f"{base}-{base + 3}", "pcpus": f"{base + 4}-{base + 15}",
            "siblings": [f"{c},{c + 1}" for c in range(base + 4, base + 16, 2)], "memory_mb": 65536,
            "pages": [{"size_kb": 4, "total": 12582912}, {"size_kb": 2048, "total": 8192}]}


TOPOLOGY: dict[str, Any] = {
    "cells": [_cell(0), _cell(1)],
    "pci_devices": [
        {"address": "0000:3b:00.0", "vendor_id": "10de", "product_id": "1eb8", "numa_node": 0},
        {"address": "0000:5e:00.0", "vendor_id": "8086", "product_id": "158b", "numa_node": 0},
        {"address": "0000:af:00.0", "vendor_id": "10de", "product_id": "1eb8", "numa_node": 1},
        {"address": "0000:d8:00.0", "vendor_id": "8086", "product_id": "158b", "numa_node": 1},
    ],
}
FLAVORS: dict[str, dict[str, Any]] = {
    "dedicated": {"vcpus": 4, "memory_mb": 4096, "extra_specs": {"hw:cpu_policy": "dedicated"}},
    "dedicated-gpu": {"vcpus": 4, "memory_mb": 8192, "extra_specs": {
        "hw:cpu_policy": "dedicated", "hw:cpu_thread_policy": "require", "pci_passthrough:alias": "gpu:1"}},
    "mixed-nic": {"vcpus": 4, "memory_mb": 4096, "extra_specs": {
        "hw:cpu_policy": "mixed", "hw:cpu_dedicated_mask": "^0-1", "pci_passthrough:alias": "nic:1"}},
    "two-nodes-hugepages": {"vcpus": 8, "memory_mb": 8192, "extra_specs": {
        "hw:cpu_policy": "dedicated", "hw:numa_nodes": "2", "hw:mem_page_size": "2MB"}},
}


def host_name(index: int) -> str:
    return f"numa-host-{index:05d}"


def _setup(url: str, registry: Registry, hosts: int, seed: int, timeout: float) -> None:
    rng = random.Random(f"allotment-bench-numa:{seed}")
    topology = HostTopology.from_dict(TOPOLOGY)
    with connect(url, timeout=timeout) as placement:
        for i in range(hosts):
            root = placement.create_provider(host_name(i), seeded_uuid(rng))
            placement.set_inventories(root.uuid, root.generation, {"DISK_GB": Inventory(total=2000)})
            registry.register_host(host_name(i), root.uuid, {"hypervisor_type": "QEMU"})
            register_topology(placement, registry, host_name(i), topology)


def _audit(url: str, registry: Registry, timeout: float) -> dict[str, Any]:
    topology = HostTopology.from_dict(TOPOLOGY)
    twice_cpus = twice_devices = over_memory = over_pages = pcpu_mismatch = 0
    with connect(url, timeout=timeout) as placement:
        for host in registry.list_hosts():
            _, claims = registry.get_topology(host.name)
            if not claims:
                continue
            cpus: Counter[int] = Counter()
            devices: Counter[str] = Counter()
            memory: Counter[int] = Counter()
            pages: Counter[int] = Counter()
            for fit in claims.values():
                for c in fit["cells"]:
                    cpus.update(c["taken"])
                    memory[c["host_cell"]] += c["memory_mb"]
                    if c["pagesize_kb"] == 2048:
                        pages[c["host_cell"]] += c["memory_mb"] // 2
                devices.update(fit["devices"])
            twice_cpus += sum(1 for n in cpus.values() if n > 1)
            twice_devices += sum(1 for n in devices.values() if n > 1)
            over_memory += sum(1 for c in topology.cells if memory[c.id] > c.memory_mb)
            over_pages += sum(1 for c in topology.cells if pages[c.id] > 8192)
            if placement.provider_usages(host.provider_uuid).get("PCPU", 0) != sum(cpus.values()):
                pcpu_mismatch += 1
    return {"cpus_pinned_twice": twice_cpus, "devices_given_twice": twice_devices,
            "cells_over_memory": over_memory, "cells_over_pages": over_pages, "pcpu_usage_mismatches": pcpu_mismatch}


def run(ctx: Context) -> WorkloadResult:
    p = ctx.params
    with tempfile.TemporaryDirectory(prefix="allotment-bench-numa-") as tmp:
        db_url = f"sqlite:///{Path(tmp) / 'registry.sqlite'}"
        config = SchedulerConfig(placement_url=ctx.url, db_url=db_url, service_down_time=int(HOST_DOWN_TIME),
                                 enabled_filters=list(FILTERS), pci_alias=list(ALIASES))
        with Registry.open(db_url, service_down_time=HOST_DOWN_TIME) as registry:
            start = time.perf_counter()
            _setup(ctx.url, registry, p.providers, p.seed, p.timeout)
            setup_s = time.perf_counter() - start
            rng = random.Random(f"allotment-bench-numa:{p.seed}:{ctx.run_index}")
            project, user = seeded_uuid(rng), seeded_uuid(rng)
            times: dict[str, list[float]] = {name: [] for name in FLAVORS}
            stages: dict[str, list[float]] = {stage: [] for stage in STAGES}
            no_valid_host = 0
            reasons: list[str] = []
            with connect(ctx.url, timeout=p.timeout) as placement:
                scheduler = Scheduler(placement, registry, config)
                scheduler.select_destinations(RequestSpec.from_flavor(  # loads the snapshot, untimed
                    Flavor("warm", **FLAVORS["dedicated"]), project_id=project, user_id=user,
                    instance_uuids=[seeded_uuid(rng)]))
                for _ in range(p.requests):
                    for name, fl in FLAVORS.items():
                        spec = RequestSpec.from_flavor(Flavor(name, **fl), project_id=project, user_id=user,
                                                       instance_uuids=[seeded_uuid(rng)])
                        t0 = time.perf_counter()
                        try:
                            result = scheduler.select_destinations(spec)
                        except NoValidHost as exc:
                            no_valid_host += 1
                            if len(reasons) < 5:
                                reasons.append(exc.reason)
                            continue
                        times[name].append(time.perf_counter() - t0)
                        for stage in STAGES:
                            stages[stage].append(result.timings.get(stage, 0.0))
            audit = _audit(ctx.url, registry, p.timeout)
    every = [t for values in times.values() for t in values]

    def ms(values: list[float], q: float) -> float | None:
        return percentile(values, q) * 1000.0 if values else None

    figures: dict[str, float | int | None] = {
        "p50_ms": ms(every, 50), "p99_ms": ms(every, 99),
        **{f"{name}.p50_ms": ms(values, 50) for name, values in times.items()},
        **{f"{name}.p99_ms": ms(values, 99) for name, values in times.items()},
        **{f"{stage}.p50_ms": ms(values, 50) for stage, values in stages.items()},
        "instances_placed": len(every), "no_valid_host": no_valid_host, "hosts": p.providers, "setup_s": setup_s,
        **audit,
    }
    return WorkloadResult(figures=figures, details={
        "topology": TOPOLOGY, "flavors": FLAVORS, "aliases": ALIASES, "filters": FILTERS,
        "requests_per_flavor": p.requests, "registry": "sqlite (temporary file)", "no_valid_host_reasons": reasons,
    })


WORKLOAD = Workload(
    name="numa",
    summary="select_destinations for dedicated-CPU, mixed, huge-page and PCI flavors over H hosts of 2 NUMA cells and "
            "4 PCI devices; no CPU or device twice (allotment only)",
    figures=(
        Figure("p50_ms", "ms", "lower", label="per instance p50 (all flavors)"),
        Figure("p99_ms", "ms", "lower", label="per instance p99 (all flavors)"),
        *(Figure(f"{name}.{q}_ms", "ms", "lower", label=f"{name} {q}") for name in FLAVORS for q in ("p50", "p99")),
        *(Figure(f"{stage}.p50_ms", "ms", "lower", label=f"stage {stage} p50") for stage in STAGES),
        Figure("instances_placed", "", None, label="instances placed (timed)", show=True),
        Figure("no_valid_host", "", None, agg="sum", label="NoValidHost", show=True),
        Figure("cpus_pinned_twice", "", None, agg="sum", label="CPUs pinned twice (must be 0)", show=True),
        Figure("devices_given_twice", "", None, agg="sum", label="devices given twice (must be 0)", show=True),
        Figure("cells_over_memory", "", None, agg="sum", label="cells over memory (must be 0)", show=True),
        Figure("cells_over_pages", "", None, agg="sum", label="cells over huge pages (must be 0)", show=True),
        Figure("pcpu_usage_mismatches", "", None, agg="sum", label="PCPU usage != pinned CPUs (must be 0)",
               show=True),
        Figure("hosts", "", None, label="hosts", show=True),
        Figure("setup_s", "s", None, label="registering hosts and topologies"),
    ),
    run=run,
    targets=("allotment",),
)
