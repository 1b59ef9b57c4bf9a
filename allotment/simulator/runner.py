"""Run one simulation per scheduler configuration on a fresh fleet each, and write the results file."""

from __future__ import annotations

import contextlib
import datetime as dt
import secrets
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from allotment.client import PlacementClient, connect, direct
from allotment.scheduler.registry import Registry
from allotment.simulator.configs import SimConfig
from allotment.simulator.engine import RunResult, Simulation
from allotment.simulator.events import HostEvent
from allotment.simulator.fleet import FleetSpec
from allotment.simulator.workload import Arrival, SimFlavor

__all__ = ["FORMAT", "HOST_DOWN_TIME", "Plan", "run_plan"]

FORMAT = "allotment.simulation/1"
# Hosts count as up this long after registering: the simulator does not heartbeat thousands of
# hosts; failures are forced down explicitly instead.
HOST_DOWN_TIME = 10 * 365 * 86400.0


@dataclass(frozen=True)
class Plan:
    fleet: FleetSpec
    flavors: Sequence[SimFlavor]
    arrivals: Sequence[Arrival]
    workload: dict[str, Any]  # how the arrivals were made, for the results file
    configs: Sequence[SimConfig]
    events: Sequence[HostEvent] = ()
    seed: int = 1
    sample_every: float | None = None
    url: str | None = None  # placement over HTTP; None: in-process (direct) on a fresh SQLite file per run
    verify: bool = False
    jobs: int = 1  # configurations run at once, each in a process of its own


@contextlib.contextmanager
def _placement(url: str | None, workdir: Path, label_index: int) -> Iterator[PlacementClient]:
    if url is None:
        with direct(f"sqlite:///{workdir / f'placement-{label_index}.sqlite'}") as client:
            yield client
    else:
        with connect(url) as client:
            yield client


def run_one(plan: Plan, index: int, workdir: Path,
            progress: Callable[[str], None] = lambda _: None) -> tuple[RunResult, list[str]]:
    """The simulation of ``plan.configs[index]``: its result and the usage mismatches found (if verified)."""
    sim_config = plan.configs[index]
    salt = "" if plan.url is None else secrets.token_hex(4)  # a shared placement must not see one uuid twice
    prefix = "sim-host-" if plan.url is None else f"sim-{salt}-"
    with _placement(plan.url, workdir, index) as placement, \
            Registry.open(f"sqlite:///{workdir / f'registry-{index}.sqlite'}",
                          service_down_time=HOST_DOWN_TIME) as registry:
        sim = Simulation(placement, registry, sim_config, plan.fleet, plan.flavors, plan.arrivals, plan.events,
                         seed=plan.seed, sample_every=plan.sample_every, prefix=prefix, uuid_salt=salt)
        progress(f"[{sim_config.label}] creating {plan.fleet.hosts} hosts")
        try:
            sim.build()
            progress(f"[{sim_config.label}] {len(plan.arrivals)} arrivals (hosts ready in {sim.setup_s:.1f} s)")
            result = sim.run(lambda line: progress(f"[{sim_config.label}] {line}"))
            mismatches = sim.verify_usages() if plan.verify else []
        finally:
            if plan.url is not None:
                sim.cleanup()
    progress(f"[{sim_config.label}] done: {result.summary['placed']} placed, {result.summary['refused']} refused, "
             f"{result.summary['placements_per_s']} placements/s")
    return result, mismatches


def _commit() -> str | None:
    try:
        out = subprocess.run(["git", "rev-parse", "HEAD"], capture_output=True, text=True, timeout=10,
                             cwd=Path(__file__).parent)
    except (OSError, subprocess.SubprocessError):
        return None
    return out.stdout.strip() or None if out.returncode == 0 else None


def _to_stderr(line: str) -> None:
    print(line, file=sys.stderr, flush=True)


def _quiet(line: str) -> None:
    pass


def run_plan(plan: Plan, progress: Callable[[str], None] | None = None) -> dict[str, Any]:
    """Every configuration of ``plan``; the results document (format ``FORMAT``, README "Fleet simulator").

    ``progress``: None for silence, else a callable for progress lines (with ``jobs`` > 1 the
    worker processes print theirs on stderr instead).
    """
    started = time.perf_counter()
    outcomes: list[tuple[RunResult, list[str]]] = []
    with tempfile.TemporaryDirectory(prefix="allotment-sim-") as tmp:
        if plan.jobs > 1 and len(plan.configs) > 1:
            report = _quiet if progress is None else _to_stderr
            with ProcessPoolExecutor(max_workers=min(plan.jobs, len(plan.configs))) as pool:
                futures = [pool.submit(run_one, plan, i, Path(tmp), report) for i in range(len(plan.configs))]
                outcomes = [f.result() for f in futures]
        else:
            outcomes = [run_one(plan, i, Path(tmp), progress or _quiet) for i in range(len(plan.configs))]
    runs: list[dict[str, Any]] = []
    for result, mismatches in outcomes:
        run = result.to_json()
        if plan.verify:
            run["usage_mismatches"] = mismatches
        runs.append(run)
    return {
        "format": FORMAT,
        "created": dt.datetime.now(dt.UTC).isoformat(timespec="seconds").replace("+00:00", "Z"),
        "commit": _commit(),
        "seed": plan.seed,
        "placement": plan.url or "in-process (direct client), a fresh SQLite file per run",
        "fleet": plan.fleet.to_json(),
        "flavors": [f.to_json() for f in plan.flavors],
        "workload": plan.workload,
        "events": [e.to_json() for e in plan.events],
        "jobs": plan.jobs,
        "wall_s": round(time.perf_counter() - started, 3),
        "runs": runs,
    }
