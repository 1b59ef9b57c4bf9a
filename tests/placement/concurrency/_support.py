"""Helpers for the concurrency and fault tests: HTTP set-up and snapshots, the
claiming client processes, and the child processes that die mid-transaction.

Everything a child process runs lives here (not in a test module) so that the
``spawn`` start method can import it without importing pytest's test modules.
"""

from __future__ import annotations

import random
import threading
import time
import traceback
import uuid as uuidlib
from collections import defaultdict
from dataclasses import dataclass, field
from typing import Any

import httpx

HEADERS = {"x-auth-token": "admin", "openstack-api-version": "placement latest", "accept": "application/json"}
PROJECT = "concurrency-project"
USER = "concurrency-user"
REQUEST_TIMEOUT = 20.0  # a request slower than this is reported as a hang

Allocs = dict[str, dict[str, int]]  # provider uuid -> {resource class: amount}


# ---- HTTP set-up and inspection --------------------------------------------------------------


def client(url: str, timeout: float = REQUEST_TIMEOUT) -> httpx.Client:
    return httpx.Client(base_url=url, headers=HEADERS, timeout=timeout)


def create_provider(c: httpx.Client, name: str, inventories: dict[str, dict[str, Any]]) -> str:
    """POST a provider and PUT its inventories; return its uuid."""
    rp = str(uuidlib.uuid4())
    r = c.post("/resource_providers", json={"name": name, "uuid": rp})
    assert r.status_code == 200, f"create provider {name}: {r.status_code} {r.text}"
    r = c.put(
        f"/resource_providers/{rp}/inventories",
        json={"resource_provider_generation": 0, "inventories": inventories},
    )
    assert r.status_code == 200, f"inventories of {name}: {r.status_code} {r.text}"
    return rp


def claim_body(
    allocs: Allocs, generation: int | None = None, project: str = PROJECT, user: str = USER
) -> dict[str, Any]:
    return {
        "allocations": {rp: {"resources": res} for rp, res in allocs.items()},
        "project_id": project,
        "user_id": user,
        "consumer_generation": generation,
        "consumer_type": "INSTANCE",  # required from microversion 1.38
    }


@dataclass
class ProviderState:
    uuid: str
    generation: int
    capacity: dict[str, float]  # (total - reserved) * allocation_ratio, per class
    usages: dict[str, int]
    allocations: dict[str, dict[str, int]]  # consumer uuid -> {class: amount}

    def allocation_sums(self) -> dict[str, int]:
        sums: dict[str, int] = defaultdict(int)
        for resources in self.allocations.values():
            for rc, amount in resources.items():
                sums[rc] += amount
        return dict(sums)


def provider_state(c: httpx.Client, rp: str) -> ProviderState:
    r = c.get(f"/resource_providers/{rp}/inventories")
    assert r.status_code == 200, r.text
    capacity = {
        rc: (inv["total"] - inv["reserved"]) * inv["allocation_ratio"] for rc, inv in r.json()["inventories"].items()
    }
    r = c.get(f"/resource_providers/{rp}/usages")
    assert r.status_code == 200, r.text
    usages = {rc: int(v) for rc, v in r.json()["usages"].items()}
    r = c.get(f"/resource_providers/{rp}/allocations")
    assert r.status_code == 200, r.text
    body = r.json()
    allocations = {consumer: dict(v["resources"]) for consumer, v in body["allocations"].items()}
    return ProviderState(rp, body["resource_provider_generation"], capacity, usages, allocations)


def consumer_allocations(c: httpx.Client, consumer: str) -> Allocs:
    r = c.get(f"/allocations/{consumer}")
    assert r.status_code == 200, r.text
    return {rp: dict(v["resources"]) for rp, v in r.json()["allocations"].items()}


def nonzero(usages: dict[str, int]) -> dict[str, int]:
    return {rc: v for rc, v in usages.items() if v}


# ---- the claiming clients --------------------------------------------------------------------


@dataclass
class ClaimPlan:
    """What one client process does: ``threads`` threads, each up to ``max_ops`` operations."""

    index: int
    urls: list[str]  # servers; threads are spread round-robin across them
    providers: list[str]
    threads: int
    max_ops: int
    duration: float  # seconds of claiming after the start signal
    seed: int
    multi_fraction: float = 0.3
    delete_fraction: float = 0.2
    resize_fraction: float = 0.1


@dataclass
class Record:
    """One request a client made and what came back."""

    op: str  # claim | resize | delete | get
    consumer: str
    allocations: Allocs
    url: str
    status: int | None = None
    content_type: str = ""
    body: str = ""
    error: str = ""  # transport error (timeout, reset, ...)
    elapsed: float = 0.0
    resolved: Allocs | None = None  # after a transport error: what the consumer really holds
    extra: dict[str, Any] = field(default_factory=dict)


def _random_resources(rng: random.Random) -> dict[str, int]:
    res = {"VCPU": rng.randint(1, 3)}
    if rng.random() < 0.8:
        res["MEMORY_MB"] = rng.choice((128, 256, 512, 1024))
    return res


def _random_allocs(rng: random.Random, plan: ClaimPlan) -> Allocs:
    count = 2 if (len(plan.providers) > 1 and rng.random() < plan.multi_fraction) else 1
    return {rp: _random_resources(rng) for rp in rng.sample(plan.providers, count)}


def _request(c: httpx.Client, rec: Record, method: str, path: str, body: Any = None) -> httpx.Response | None:
    started = time.monotonic()
    try:
        r = c.request(method, path, json=body)
    except httpx.HTTPError as exc:
        rec.error = f"{type(exc).__name__}: {exc}"
        rec.elapsed = time.monotonic() - started
        return None
    rec.elapsed = time.monotonic() - started
    rec.status = r.status_code
    rec.content_type = r.headers.get("content-type", "")
    if not 200 <= r.status_code < 300:
        rec.body = r.text[:2000]
    return r


def _resolve(url: str, rec: Record) -> None:
    """After a transport error the outcome is unknown: ask the server what the consumer holds."""
    try:
        with client(url) as c:
            rec.resolved = consumer_allocations(c, rec.consumer)
    except Exception as exc:  # noqa: BLE001 - recorded, judged by the test
        rec.extra["resolve_error"] = repr(exc)


def _claim_thread(plan: ClaimPlan, thread: int, stop_at: float, out: list[Record]) -> None:
    rng = random.Random(plan.seed * 1000 + thread)
    url = plan.urls[(plan.index * plan.threads + thread) % len(plan.urls)]
    held: dict[str, Allocs] = {}  # consumers this thread believes it holds
    with client(url) as c:
        for _ in range(plan.max_ops):
            if time.monotonic() >= stop_at:
                break
            roll = rng.random()
            if held and roll < plan.delete_fraction:
                consumer = rng.choice(sorted(held))
                rec = Record("delete", consumer, {}, url)
                r = _request(c, rec, "DELETE", f"/allocations/{consumer}")
                out.append(rec)
                if r is None:
                    _resolve(url, rec)
                if rec.status == 204 or (rec.resolved is not None and not rec.resolved):
                    held.pop(consumer)
            elif held and roll < plan.delete_fraction + plan.resize_fraction:
                # Replace what a consumer holds, with its current generation.
                consumer = rng.choice(sorted(held))
                get = Record("get", consumer, {}, url)
                r = _request(c, get, "GET", f"/allocations/{consumer}")
                out.append(get)
                if r is None or r.status_code != 200:
                    continue
                generation = r.json().get("consumer_generation")
                allocs = _random_allocs(rng, plan)
                rec = Record("resize", consumer, allocs, url, extra={"generation": generation})
                r = _request(c, rec, "PUT", f"/allocations/{consumer}", claim_body(allocs, generation))
                out.append(rec)
                if r is None:
                    _resolve(url, rec)
                    if rec.resolved is not None:
                        held[consumer] = rec.resolved
                elif r.status_code == 204:
                    held[consumer] = allocs
            else:
                consumer = str(uuidlib.uuid4())
                allocs = _random_allocs(rng, plan)
                rec = Record("claim", consumer, allocs, url)
                r = _request(c, rec, "PUT", f"/allocations/{consumer}", claim_body(allocs))
                out.append(rec)
                if r is None:
                    _resolve(url, rec)
                    if rec.resolved:
                        held[consumer] = rec.resolved
                elif r.status_code == 204:
                    held[consumer] = allocs


def claim_process(plan: ClaimPlan, ready: Any, go: Any, results: Any) -> None:
    """Entry point of one client process: wait for the start signal, claim, send the records back."""
    try:
        ready.put(plan.index)
        go.wait(60)
        stop_at = time.monotonic() + plan.duration
        per_thread: list[list[Record]] = [[] for _ in range(plan.threads)]
        threads = [
            threading.Thread(target=_claim_thread, args=(plan, i, stop_at, per_thread[i]), daemon=True)
            for i in range(plan.threads)
        ]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        results.put((plan.index, [rec for recs in per_thread for rec in recs], None))
    except BaseException:  # noqa: BLE001 - reported to the parent
        results.put((plan.index, [], traceback.format_exc()))


def ledger(records: list[Record]) -> dict[str, Allocs]:
    """What every consumer should hold, replaying each client's successful writes in order.

    Consumers belong to a single thread, so per-consumer order is the order of
    the records of that thread, which ``records`` preserves.
    """
    state: dict[str, Allocs] = {}
    for rec in records:
        if rec.op == "get":
            continue
        if rec.status is None:
            if rec.resolved is None:
                continue
            if rec.resolved:
                state[rec.consumer] = rec.resolved
            else:
                state.pop(rec.consumer, None)
            continue
        if rec.status == 204 and rec.op in ("claim", "resize"):
            state[rec.consumer] = rec.allocations
        elif rec.status == 204 and rec.op == "delete":
            state.pop(rec.consumer, None)
    return state


def expected_usage(state: dict[str, Allocs]) -> dict[str, dict[str, int]]:
    usage: dict[str, dict[str, int]] = defaultdict(lambda: defaultdict(int))
    for allocs in state.values():
        for rp, res in allocs.items():
            for rc, amount in res.items():
                usage[rp][rc] += amount
    return {rp: dict(v) for rp, v in usage.items()}


# ---- writers that die mid-transaction ---------------------------------------------------------


def hold_claim_open(db_url: str, consumer: str, project: str, user: str, allocs: Allocs, pipe: Any) -> None:
    """Claim ``allocs`` for ``consumer`` in a write transaction that stays open until told to go on.

    Reports ``("holding", backend connection id)`` once the claim is written but
    not committed, then waits on ``pipe``; afterwards reports ``("committed",
    None)`` or ``("failed", error)``. If the store retries the transaction, the
    holding message comes again.
    """
    from allotment.infra.database import Database
    from allotment.placement.domain.allocations import ConsumerAllocations, replace_allocations

    store = Database(db_url, pool_size=1)

    def fn(conn: Any) -> None:
        request = ConsumerAllocations(uuid=consumer, project_id=project, user_id=user, allocations=allocs,
                                      generation=None, check_generation=True)
        replace_allocations(conn, [request], ("incomplete-project", "incomplete-user"))
        if store.backend == "postgresql":
            conn_id = conn.exec_driver_sql("SELECT pg_backend_pid()").scalar()
        elif store.backend == "mysql":
            conn_id = conn.exec_driver_sql("SELECT CONNECTION_ID()").scalar()
        else:
            conn_id = None
        pipe.send(("holding", conn_id))
        pipe.recv()  # blocks until the parent says go on (or kills us)

    try:
        store.write(fn)
        pipe.send(("committed", None))
    except BaseException as exc:  # noqa: BLE001 - reported to the parent
        pipe.send(("failed", f"{type(exc).__name__}: {str(exc).splitlines()[0] if str(exc) else ''}"))
    finally:
        store.dispose()
