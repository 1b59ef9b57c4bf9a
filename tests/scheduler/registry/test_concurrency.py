"""Server group policies hold when several processes place members of one group at the same moment."""

from __future__ import annotations

import multiprocessing
from typing import Any

import pytest

from allotment.scheduler.registry import Registry
from tests.scheduler.registry import _workers
from tests.scheduler.registry.conftest import new_uuid

PROCESSES = 4
TRIES_EACH = 4


def _run(url: str, group_uuid: str, hosts_per_worker: list[str]) -> list[tuple[str, str]]:
    ctx = multiprocessing.get_context("spawn")
    barrier = ctx.Barrier(len(hosts_per_worker))
    results: Any = ctx.Queue()
    procs = [
        ctx.Process(target=_workers.place_members,
                    args=(url, group_uuid, host, [new_uuid() for _ in range(TRIES_EACH)], barrier, results))
        for host in hosts_per_worker
    ]
    for p in procs:
        p.start()
    outcomes = [item for _ in procs for item in results.get(timeout=180)]
    for p in procs:
        p.join(30)
    errors = [o for o in outcomes if o[1] not in ("placed", "refused")]
    assert errors == []
    return outcomes


@pytest.mark.parametrize("limit", [1, 3])
def test_anti_affinity_on_one_host_admits_exactly_the_limit(registry: Registry, registry_url: str, limit: int) -> None:
    registry.register_host("c1", new_uuid())
    rules = {"max_server_per_host": limit} if limit != 1 else None
    group = registry.create_group("g", "anti-affinity", rules=rules)
    outcomes = _run(registry_url, group.uuid, ["c1"] * PROCESSES)
    placed = [i for i, what in outcomes if what == "placed"]
    assert len(placed) == limit
    assert len(outcomes) == PROCESSES * TRIES_EACH
    assert registry.get_group(group.uuid).members == {i: "c1" for i in placed}


def test_affinity_racing_onto_different_hosts_ends_on_one(registry: Registry, registry_url: str) -> None:
    names = [f"c{i}" for i in range(PROCESSES)]
    for name in names:
        registry.register_host(name, new_uuid())
    group = registry.create_group("g", "affinity")
    outcomes = _run(registry_url, group.uuid, names)
    final = registry.get_group(group.uuid)
    assert len(final.hosts) == 1
    assert len(final.members) == TRIES_EACH  # every try of the winning host's worker, none of the others
    assert sorted(final.members) == sorted(i for i, what in outcomes if what == "placed")
