"""``cold``: the first candidates query after a worker starts, at N providers, and a worker's memory.

Allotment only. The workload fills the run's (empty) database with the ``load``
workload's providers by bulk inserts (:mod:`allotment.bench.seed`: 100,000
through the API would take 20 minutes here), then starts a second allotment
server on it with the run's worker count and times:

- ``ready_s``: from the server command to its first answer on ``/``. A worker
  builds its read model before it accepts connections, so this holds the build;
  ``build_s`` is the build alone, as the quickest worker logged it, and
  ``build_cpu_s`` the CPU it took (steadier on a shared machine);
- ``first_ms``: the first ``ac`` query (filtered, ``limit=10``) that server
  answers, then ``first_full_ms``: the first unlimited one (all N candidates);
- ``limit10.p50_ms`` / ``p99_ms`` over ``requests`` more of the first.

Memory: each worker's RSS once it is serving, against the RSS the run's first
server had on the empty database; the difference, scaled to 100,000 providers,
is ``mb_per_100k``.

Upstream keeps no model to build (every query reads the database), and filling
its schema at 100,000 providers goes through its API (over an hour here), so
the workload does not run against it.
"""

from __future__ import annotations

import re
import time
from pathlib import Path

from allotment.bench.http import Client, Recorder
from allotment.bench.procstat import descendants, read_memory_kb
from allotment.bench.servers import allotment_server
from allotment.bench.stats import percentile
from allotment.bench.workloads.ac import FILTERED
from allotment.bench.workloads.base import Context, Figure, Workload, WorkloadResult

__all__ = ["WORKLOAD"]

_BUILT = re.compile(rb"read model built: (\d+) providers in ([0-9.]+) s \(([0-9.]+) s CPU\)")


def _worker_rss_mb(root: int | None) -> list[float]:
    if root is None:
        return []
    return [read_memory_kb(pid, pss=False).get("VmRSS", 0) / 1024 for pid in descendants(root) if pid != root]


def _log_once_every_worker_built(path: Path, workers: int, timeout: float = 60.0) -> bytes:
    """The server log once each worker has logged its build: the first worker to finish may answer while
    another is still building (a loaded machine stretches that), and each worker's build is a figure."""
    deadline = time.monotonic() + timeout
    while True:
        log = path.read_bytes()
        if len(_BUILT.findall(log)) >= workers or time.monotonic() > deadline:
            return log
        time.sleep(0.05)


def run(ctx: Context) -> WorkloadResult:
    from allotment.bench.seed import seed_load_providers  # it imports the workloads package: not at import time

    p = ctx.params
    if ctx.db_url is None:
        raise ValueError("cold needs the run's database (it cannot measure a server given by URL)")
    empty = _worker_rss_mb(ctx.server_pid)
    t0 = time.perf_counter()
    seed_load_providers(ctx.db_url, p.providers, p.seed, ctx.run_index)
    seed_s = time.perf_counter() - t0
    rec = Recorder()
    t0 = time.perf_counter()
    with allotment_server(ctx.db_url, workers=ctx.workers, ready_timeout=600.0) as server:
        ready_s = time.perf_counter() - t0
        with Client(server.url, timeout=p.timeout) as c:
            t1 = time.perf_counter()
            first = rec.request(c, "GET", f"/allocation_candidates?{FILTERED}&limit=10")
            first_ms = (time.perf_counter() - t1) * 1000
            t1 = time.perf_counter()
            full = rec.request(c, "GET", f"/allocation_candidates?{FILTERED}")
            first_full_ms = (time.perf_counter() - t1) * 1000
            times = []
            for _ in range(p.requests):
                t1 = time.perf_counter()
                rec.request(c, "GET", f"/allocation_candidates?{FILTERED}&limit=10")
                times.append((time.perf_counter() - t1) * 1000)
        log = _log_once_every_worker_built(server.workdir / "server.log", ctx.workers)
        loaded = _worker_rss_mb(server.process.pid)
    built = [(int(n), float(s), float(cpu)) for n, s, cpu in _BUILT.findall(log)]
    grown = (sum(loaded) / len(loaded) - sum(empty) / len(empty)) if loaded and empty else None
    return WorkloadResult(
        figures={
            "seed_s": seed_s,
            "ready_s": ready_s,
            "build_s": min((s for n, s, _ in built if n == p.providers), default=None),
            "build_cpu_s": min((cpu for n, _, cpu in built if n == p.providers), default=None),
            "first_ms": first_ms if first is not None else None,
            "first_full_ms": first_full_ms if full is not None else None,
            "first_full.candidates": len(full.json()["allocation_requests"]) if full is not None else None,
            "limit10.p50_ms": percentile(times, 50.0) if times else None,
            "limit10.p99_ms": percentile(times, 99.0) if times else None,
            "worker_rss_mb": max(loaded) if loaded else None,
            "mb_per_100k": grown * 100_000 / p.providers if grown is not None else None,
            "non_2xx": rec.non_2xx,
        },
        details={**rec.details(), "builds_logged": built, "worker_rss_empty_mb": empty,
                 "worker_rss_loaded_mb": loaded, "query": FILTERED},
    )


WORKLOAD = Workload(
    name="cold",
    summary="seed N providers, start a fresh server: time to ready (read model built), first ac query, RSS/100k",
    figures=(
        Figure("ready_s", "s", "lower", label="start to ready (model built)"),
        Figure("build_s", "s", "lower", label="read model build (worker log)"),
        Figure("build_cpu_s", "s", "lower", label="read model build, CPU"),
        Figure("first_ms", "ms", "lower", label="first ac query, limit=10"),
        Figure("first_full_ms", "ms", "lower", label="first ac query, all candidates"),
        Figure("first_full.candidates", "", None, label="candidates", show=True),
        Figure("limit10.p50_ms", "ms", "lower", label="then limit=10 p50"),
        Figure("limit10.p99_ms", "ms", "lower", label="then limit=10 p99"),
        Figure("worker_rss_mb", "MB", "lower", label="worker RSS, model built"),
        Figure("mb_per_100k", "MB", "lower", label="worker memory per 100,000 providers"),
        Figure("seed_s", "s", None, label="bulk seed (setup)"),
        Figure("non_2xx", "", None, agg="sum", label="non-2xx (must be 0)", show=True),
    ),
    run=run,
    targets=("allotment",),
)
