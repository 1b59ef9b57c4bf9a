"""Concurrent claims against real servers never overcommit and never lose or invent allocations.

Several client processes (``spawn``) with several threads each hammer a few
providers with ``PUT /allocations/{new uuid}`` (single- and multi-provider),
replace some of their own allocations and delete some again, against one
allotment server with two workers, and then against two separate server
processes sharing the database. Afterwards, for every provider:

* no response was a 5xx or a transport error, and every non-2xx was a 409 with
  the JSON error envelope;
* usage <= (total - reserved) * allocation_ratio;
* usage equals the sum of the provider's listed allocations;
* the allocations listed are exactly what the clients' successful writes say
  (claims minus deletes): nothing lost, nothing extra, no half-written claim.
"""

from __future__ import annotations

import contextlib
import json
import multiprocessing as mp
import os
import queue
import time
from collections import Counter
from collections.abc import Iterator

import pytest

from allotment.bench.databases import BACKENDS, fresh_database
from allotment.bench.servers import RunningServer, allotment_server
from tests.conftest import require_backend
from tests.placement.concurrency._support import (
    REQUEST_TIMEOUT,
    ClaimPlan,
    Record,
    claim_process,
    client,
    create_provider,
    expected_usage,
    ledger,
    nonzero,
    provider_state,
)

# Sized to keep each test under ~40 s on a 2-core machine; raise them for a stress run.
PROCESSES = int(os.environ.get("ALLOTMENT_CLAIMS_PROCESSES", 3))
THREADS = int(os.environ.get("ALLOTMENT_CLAIMS_THREADS", 4))
MAX_OPS = int(os.environ.get("ALLOTMENT_CLAIMS_MAX_OPS", 80))  # per thread
DURATION = float(os.environ.get("ALLOTMENT_CLAIMS_DURATION", 8.0))  # seconds of claiming

# Three providers with different capacity arithmetic: plain, reserved + ratio > 1, ratio > 1 and < 1.
INVENTORIES = [
    {"VCPU": {"total": 8}, "MEMORY_MB": {"total": 4096}},
    {"VCPU": {"total": 8, "reserved": 2, "allocation_ratio": 1.5}, "MEMORY_MB": {"total": 4096, "reserved": 512}},
    {"VCPU": {"total": 8, "allocation_ratio": 2.0}, "MEMORY_MB": {"total": 4096, "allocation_ratio": 0.5}},
]


@contextlib.contextmanager
def servers_on(backend: str, count: int) -> Iterator[list[RunningServer]]:
    """``count`` separate allotment server processes (2 workers each) on one fresh database."""
    with fresh_database(backend) as db_url, contextlib.ExitStack() as stack:
        # One after the other: each runs the schema upgrade before serving.
        yield [stack.enter_context(allotment_server(db_url, workers=2)) for _ in range(count)]


def run_clients(urls: list[str], providers: list[str], seed: int) -> list[Record]:
    ctx = mp.get_context("spawn")
    ready, results = ctx.Queue(), ctx.Queue()
    go = ctx.Event()
    plans = [
        ClaimPlan(index=i, urls=urls, providers=providers, threads=THREADS, max_ops=MAX_OPS,
                  duration=DURATION, seed=seed + i)
        for i in range(PROCESSES)
    ]
    procs = [ctx.Process(target=claim_process, args=(plan, ready, go, results), daemon=True) for plan in plans]
    collected: dict[int, list[Record]] = {}
    errors: list[str] = []
    try:
        for p in procs:
            p.start()
        for _ in procs:
            ready.get(timeout=60)
        go.set()
        deadline = time.monotonic() + DURATION + 2 * REQUEST_TIMEOUT + 15
        while len(collected) < len(procs):
            try:
                index, records, error = results.get(timeout=max(0.1, deadline - time.monotonic()))
            except queue.Empty:
                pytest.fail(
                    f"client processes {sorted(set(range(len(procs))) - set(collected))} did not finish within "
                    f"{DURATION + 2 * REQUEST_TIMEOUT + 15:.0f}s: requests hang (deadlock?)"
                )
            collected[index] = records
            if error:
                errors.append(error)
        for p in procs:
            p.join(10)
    finally:
        for p in procs:
            if p.is_alive():
                p.kill()
                p.join()
        for q in (ready, results):
            q.close()
            q.join_thread()
    assert not errors, "client process crashed:\n" + "\n".join(errors)
    return [rec for i in sorted(collected) for rec in collected[i]]


def check_responses(records: list[Record]) -> list[str]:
    problems = []
    expected_ok = {"claim": 204, "resize": 204, "delete": 204, "get": 200}
    for rec in records:
        where = f"{rec.op} {rec.consumer} via {rec.url} {rec.allocations}"
        if rec.status is None:
            problems.append(f"transport error after {rec.elapsed:.1f}s on {where}: {rec.error}")
        elif rec.status >= 500:
            problems.append(f"{rec.status} on {where}: {rec.body[:500]}")
        elif 200 <= rec.status < 300:
            if rec.status != expected_ok[rec.op]:
                problems.append(f"unexpected success status {rec.status} on {where}")
        elif rec.op in ("delete", "get"):
            # The thread owns the consumer and holds allocations: nothing may refuse these.
            problems.append(f"{rec.status} on {where} (the consumer's allocations were lost?): {rec.body[:500]}")
        elif rec.status != 409:
            problems.append(f"non-409 refusal {rec.status} on {where}: {rec.body[:500]}")
        else:
            try:
                body = json.loads(rec.body)
                error = body["errors"][0]
                ok = error["status"] == 409 and isinstance(error.get("detail"), str)
            except (ValueError, KeyError, IndexError, TypeError):
                ok = False
            if not ok or not rec.content_type.startswith("application/json"):
                problems.append(f"409 without the JSON error envelope on {where}: {rec.content_type} {rec.body[:500]}")
    return problems


def check_providers(url: str, providers: list[str], records: list[Record]) -> tuple[list[str], dict[str, object]]:
    problems = []
    state = ledger(records)
    expected = expected_usage(state)
    seen_consumers: dict[str, dict[str, dict[str, int]]] = {}
    report: dict[str, object] = {}
    with client(url) as c:
        for rp in providers:
            ps = provider_state(c, rp)
            report[rp] = {"usages": ps.usages, "capacity": ps.capacity}
            for rc, used in ps.usages.items():
                if used > ps.capacity.get(rc, 0):
                    problems.append(f"OVERCOMMIT on {rp}: {rc} usage {used} > capacity {ps.capacity.get(rc, 0)}")
            if nonzero(ps.usages) != nonzero(ps.allocation_sums()):
                problems.append(
                    f"{rp}: usages {nonzero(ps.usages)} != sum of listed allocations {nonzero(ps.allocation_sums())}"
                )
            if nonzero(ps.usages) != nonzero(expected.get(rp, {})):
                problems.append(
                    f"{rp}: usages {nonzero(ps.usages)} != successful claims minus deletes "
                    f"{nonzero(expected.get(rp, {}))}"
                )
            for consumer, resources in ps.allocations.items():
                seen_consumers.setdefault(consumer, {})[rp] = resources
    extra = sorted(set(seen_consumers) - set(state))
    lost = sorted(set(state) - set(seen_consumers))
    by_consumer = {r.consumer: r for r in records if r.op != "get"}
    for consumer in extra:
        problems.append(
            f"allocation of consumer {consumer} exists but no successful write put it there: "
            f"{seen_consumers[consumer]} (last request: {by_consumer.get(consumer)})"
        )
    for consumer in lost:
        problems.append(f"consumer {consumer} should hold {state[consumer]} but holds nothing (lost)")
    for consumer in sorted(set(state) & set(seen_consumers)):
        if seen_consumers[consumer] != state[consumer]:
            problems.append(f"consumer {consumer} holds {seen_consumers[consumer]}, expected {state[consumer]}")
    return problems, report


@pytest.mark.parametrize("server_count", [1, 2], ids=["one-server", "two-servers"])
@pytest.mark.parametrize("db_backend", BACKENDS)
def test_concurrent_claims_never_overcommit(db_backend: str, server_count: int) -> None:
    require_backend(db_backend)
    started = time.monotonic()
    with servers_on(db_backend, server_count) as servers:
        urls = [s.url for s in servers]
        with client(urls[0]) as c:
            providers = [create_provider(c, f"claims-rp-{i}", inv) for i, inv in enumerate(INVENTORIES)]
        ready_at = time.monotonic()
        records = run_clients(urls, providers, seed=int(time.time()))
        claimed_at = time.monotonic()
        problems = check_responses(records)
        # Read back through every server: they must all agree.
        reports = []
        for url in urls:
            found, report = check_providers(url, providers, records)
            problems += [f"[read via {url}] {p}" for p in found]
            reports.append(report)

    statuses = Counter((r.op, r.status) for r in records)
    latencies = sorted(r.elapsed for r in records)
    latency = (
        f"latency p50 {latencies[len(latencies) // 2]:.3f}s p95 {latencies[int(len(latencies) * 0.95)]:.3f}s "
        f"max {latencies[-1]:.3f}s" if latencies else "no requests"
    )
    per_url = Counter(r.url for r in records)
    multi_ok = sum(1 for r in records if r.op == "claim" and r.status == 204 and len(r.allocations) > 1)
    summary = (
        f"{db_backend} x{server_count} server(s): {len(records)} requests in {claimed_at - ready_at:.1f}s "
        f"(set-up {ready_at - started:.1f}s, total {time.monotonic() - started:.1f}s); "
        f"{latency}; multi-provider claims that succeeded {multi_ok}; statuses {dict(sorted(statuses.items(), key=str))}; per server {dict(per_url)}; final {reports[0]}"
    )
    print(summary)
    assert not problems, f"{len(problems)} problem(s):\n" + "\n".join(problems[:60]) + "\n\n" + summary

    # The run must have been a real race at capacity, not a quiet walk.
    claims_ok = statuses[("claim", 204)]
    refused = sum(n for (op, st), n in statuses.items() if op in ("claim", "resize") and st == 409)
    assert claims_ok >= 10, f"too few successful claims to prove anything: {summary}"
    assert refused >= 1, f"providers never reached capacity (no 409): {summary}"
    assert statuses[("delete", 204)] >= 1, f"no deletes happened: {summary}"
    if server_count == 2:
        assert len(per_url) == 2, f"clients did not use both servers: {summary}"
