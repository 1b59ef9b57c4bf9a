"""Chaos: 200 creates, moves and deletes while the conductor (with the compute API: one process,
``allotment servers serve``) and the compute processes (``allotment compute run``) are SIGKILLed at
random points and restarted; then one ``allotment audit --heal`` pass. Afterwards no allocation is orphaned,
no server is left in a transitional state, no provider is over capacity, and placement's usages
equal what the live servers and open migrations hold.

On every backend (``db_url``: SQLite, and PostgreSQL and MariaDB when their servers answer; under CI
they must). Runs in the default selection (so under CI, where RabbitMQ is required), about a minute each.
"""

from __future__ import annotations

import random
import threading
import time
from collections import Counter
from pathlib import Path

import httpx
import pytest

from allotment.servers import states
from tests.servers.flow_cluster import BIG, CONDUCTOR, FLAVOR, Cluster, cluster
from tests.servers.rabbit import require_broker

OPERATIONS = 200
SEED = 12


def chaos_monkey(c: Cluster, rng: random.Random, stop: threading.Event, kills: Counter[str]) -> None:
    """Every 0.3–1.2 s, SIGKILL the conductor or a compute, and start it again 0.2–1 s later."""
    victims = [CONDUCTOR, *c.computes]
    while not stop.wait(rng.uniform(0.3, 1.2)):
        victim = rng.choice(victims)
        c.kill(victim)
        kills[victim] += 1
        time.sleep(rng.uniform(0.2, 1.0))
        c.start(victim)


def one_operation(c: Cluster, rng: random.Random, done: Counter[str]) -> bool:
    """One create, move or delete through the API; False when the API was down (its process killed)."""
    try:
        _operate(c, rng, done)
    except httpx.TransportError:
        done["api_down"] += 1
        return False
    return True


def _operate(c: Cluster, rng: random.Random, done: Counter[str]) -> None:
    servers = c.store.list_servers()
    settled = [s for s in servers if s.task_state is None]
    roll = rng.random()
    if roll < 0.45 or not settled:
        c.create(rng.choice([1, 1, 1, 2, 3]), flavor=FLAVOR)
        done["create"] += 1
        return
    s = rng.choice(settled)
    if s.vm_state == states.RESIZED:
        action = rng.choice(["confirmResize", "revertResize"])
        r = c.http.post(f"/servers/{s.uuid}/action", json={action: None})
    elif roll < 0.70 and s.vm_state == states.ACTIVE:
        action = rng.choice(["migrate", "resize"])
        body = {"migrate": None} if action == "migrate" else \
            {"resize": {"flavor": BIG if s.flavor["name"] == FLAVOR["name"] else FLAVOR}}
        r = c.http.post(f"/servers/{s.uuid}/action", json=body)
    else:
        action = "delete"
        r = c.http.delete(f"/servers/{s.uuid}")
    # 409: the server moved on since we looked (the conductor is faster than the list); 5xx never.
    assert r.status_code in (202, 204, 409), (action, r.status_code, r.text)
    done[action if r.status_code != 409 else "refused"] += 1


@pytest.mark.chaos
def test_kills_during_200_operations_leave_nothing_behind_after_one_audit(tmp_path: Path, db_url: str) -> None:
    require_broker()
    rng = random.Random(SEED)
    with cluster(tmp_path, computes=3, spawn_time=0.2, failure_rate=0.05,
                 host={"vcpus": 24, "memory_mb": 8192, "disk_gb": 200}, db_url=db_url) as c:
        stop = threading.Event()
        kills: Counter[str] = Counter()
        monkey = threading.Thread(target=chaos_monkey, args=(c, random.Random(SEED + 1), stop, kills))
        monkey.start()
        done: Counter[str] = Counter()
        sent = 0
        try:
            while sent < OPERATIONS:
                sent += one_operation(c, rng, done)
                time.sleep(rng.uniform(0.05, 0.25))  # about 30 s of operations: a dozen kills
        finally:
            stop.set()
            monkey.join()
        assert sum(kills.values()) >= 6, kills
        # Every process is up again; what the kills interrupted either finishes on redelivery or is stuck.
        c.wait_quiet(timeout=15)
        healed = Counter(f["kind"] for f in c.audit(heal=True, stuck_after=2.0))
        still = c.wait_quiet(timeout=30)
        assert still == [], [(s.uuid, s.vm_state, s.task_state) for s in still]
        counts = Counter(f["kind"] for f in c.audit(heal=False, stuck_after=0.0))
        summary = f"ops {dict(done)}, kills {dict(kills)}, healed {dict(healed)}, after {dict(counts)}"
        assert counts["orphan_allocation"] == 0, summary
        assert counts["stuck_server"] == 0, summary
        assert counts["over_capacity"] == 0, summary
        mismatched = c.usage_mismatches()
        assert mismatched == {}, f"{summary}; mismatched {mismatched}; {c.describe(sorted(mismatched))}"
        print(summary)
