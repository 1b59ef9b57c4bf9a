"""``allotment simulate``: the fleet simulator from the command line (README, "Fleet simulator").

Thousands of fake hosts against a real placement (in-process, or ``--url`` over HTTP) and
the scheduler in-process, once per ``--config``; writes the results JSON and a PNG plot and
prints the comparison table and the refusals by reason.
"""

from __future__ import annotations

import json
import random
from pathlib import Path
from typing import Any

import click
import httpx

from allotment.cli.errors import CommandError
from allotment.cli.output import Output, output_options
from allotment.client import PlacementError
from allotment.simulator.configs import ConfigError, parse_config
from allotment.simulator.events import EventError, HostEvent, parse_event
from allotment.simulator.fleet import FleetSpec
from allotment.simulator.runner import Plan, run_plan
from allotment.simulator.workload import (
    DEFAULT_FLAVORS,
    SimFlavor,
    WorkloadError,
    parse_flavor,
    parse_lifetime,
    read_trace,
    synthetic,
)

__all__ = ["COMPARISON_FIELDS", "comparison_rows", "simulate"]

COMPARISON_FIELDS = ("config", "placed", "refused", "refusal_pct", "mean_util_vcpu_pct", "final_util_vcpu_pct",
                     "final_util_memory_pct", "mean_stranded_vcpu_pct", "final_stranded_vcpu_pct",
                     "final_stranded_memory_pct", "instances_lost", "evacuated", "placements_per_s",
                     "schedule_p50_ms")


def comparison_rows(document: dict[str, Any]) -> list[dict[str, Any]]:
    """One row per configuration of a results document, percentages rounded to 0.1."""
    rows = []
    for run in document["runs"]:
        s = run["summary"]
        rows.append({
            "config": run["label"], "placed": s["placed"], "refused": s["refused"],
            "refusal_pct": round(s["refusal_pct"], 1),
            "mean_util_vcpu_pct": round(100 * s["mean_util_vcpu"], 1),
            "final_util_vcpu_pct": round(100 * s["final_util_vcpu"], 1),
            "final_util_memory_pct": round(100 * s["final_util_memory"], 1),
            "mean_stranded_vcpu_pct": round(s["mean_stranded_vcpu_pct"], 1),
            "final_stranded_vcpu_pct": round(s["final_stranded_vcpu_pct"], 1),
            "final_stranded_memory_pct": round(s["final_stranded_memory_pct"], 1),
            "instances_lost": s["instances_lost"], "evacuated": s["evacuated"],
            "placements_per_s": s["placements_per_s"], "schedule_p50_ms": s["schedule_p50_ms"],
        })
    return rows


def _parse(kind: str, values: tuple[str, ...], hint: str) -> list[HostEvent]:
    try:
        return [parse_event(kind, v) for v in values]
    except EventError as exc:
        raise click.BadParameter(str(exc), param_hint=hint) from None


@click.command()
@click.option("--url", default=None, metavar="URL",
              help="Placement over HTTP (an empty placement: its other providers would be offered too). "
                   "Default: in-process, a fresh SQLite file per configuration.")
@click.option("--hosts", type=click.IntRange(1), default=100, show_default=True, help="Fake hosts per run.")
@click.option("--host-vcpus", type=click.IntRange(1), default=32, show_default=True)
@click.option("--host-memory-mb", type=click.IntRange(1), default=131072, show_default=True)
@click.option("--host-disk-gb", type=click.IntRange(1), default=2000, show_default=True)
@click.option("--cpu-allocation-ratio", type=click.FloatRange(0, min_open=True), default=1.0, show_default=True)
@click.option("--ram-allocation-ratio", type=click.FloatRange(0, min_open=True), default=1.0, show_default=True)
@click.option("--flavor", "flavors", multiple=True, metavar="NAME:VCPUS:MEMORY_MB[:DISK_GB[:WEIGHT]]",
              help="A flavor of the mix (repeatable; replaces the default mix m1.small/medium/large, c1.xlarge, "
                   "r1.xlarge).")
@click.option("--arrivals", type=click.IntRange(1), default=1000, show_default=True,
              help="Synthetic workload: how many instances arrive.")
@click.option("--rate", type=click.FloatRange(0, min_open=True), default=0.5, show_default=True,
              help="Synthetic workload: arrivals per simulated second (Poisson).")
@click.option("--lifetime", default="exp:7200", show_default=True, metavar="DIST",
              help="Synthetic workload: exp:MEAN, lognormal:MEDIAN:SIGMA, uniform:LOW:HIGH, fixed:S or forever.")
@click.option("--trace", type=click.Path(dir_okay=False, path_type=Path), default=None,
              help="Replay a CSV trace (timestamp,flavor,lifetime) instead of the synthetic workload.")
@click.option("--fail", "failures", multiple=True, metavar="AT:COUNT[:DURATION]",
              help="Host failure: COUNT hosts forced down at AT (their instances evacuated), back after DURATION.")
@click.option("--maintenance", "maintenances", multiple=True, metavar="AT:COUNT:DURATION",
              help="Maintenance: COUNT hosts disabled at AT for DURATION (instances stay).")
@click.option("--config", "configs", multiple=True, metavar="SPEC",
              help="A scheduler configuration to run (repeatable; default: spread and pack): spread|pack|FILE.toml, "
                   "then optionally :host_subset_size=N,ram_weight_multiplier=X,...")
@click.option("--seed", type=int, default=1, show_default=True)
@click.option("--sample-every", type=click.FloatRange(0, min_open=True), default=None, metavar="SECONDS",
              help="Simulated seconds between samples (default: 1/200 of the run).")
@click.option("--out", "results_path", type=click.Path(dir_okay=False, path_type=Path), default=Path("simulation.json"),
              show_default=True, help="The results file (JSON).")
@click.option("--plot", type=click.Path(dir_okay=False, path_type=Path), default=None,
              help="The PNG plot (default: --out with .png).")
@click.option("--no-plot", is_flag=True, help="Write no plot.")
@click.option("--jobs", type=click.IntRange(1), default=1, show_default=True,
              help="Configurations run at once, one process each (placements/s is then per process).")
@click.option("--verify", is_flag=True, help="At the end, check placement's usages against the simulator's ledger.")
@click.option("-q", "--quiet", is_flag=True, help="No progress lines on stderr.")
@output_options(*COMPARISON_FIELDS)
def simulate(out: Output, url: str | None, hosts: int, host_vcpus: int, host_memory_mb: int, host_disk_gb: int,
             cpu_allocation_ratio: float, ram_allocation_ratio: float, flavors: tuple[str, ...], arrivals: int,
             rate: float, lifetime: str, trace: Path | None, failures: tuple[str, ...],
             maintenances: tuple[str, ...], configs: tuple[str, ...], seed: int, sample_every: float | None,
             results_path: Path, plot: Path | None, no_plot: bool, jobs: int, verify: bool, quiet: bool) -> None:
    """Simulate a fleet under a workload and compare scheduler configurations side by side.

    Example: 1,000 hosts, 20,000 arrivals, spread against pack with host_subset_size 5:

        allotment simulate --hosts 1000 --arrivals 20000 --config spread --config pack:host_subset_size=5
    """
    try:
        mix: list[SimFlavor] = [parse_flavor(f) for f in flavors] if flavors else list(DEFAULT_FLAVORS)
    except WorkloadError as exc:
        raise click.BadParameter(str(exc), param_hint="'--flavor'") from None
    if len({f.name for f in mix}) != len(mix):
        raise click.BadParameter("two flavors share a name", param_hint="'--flavor'")
    try:
        sim_configs = [parse_config(c) for c in (configs or ("spread", "pack"))]
    except ConfigError as exc:
        raise click.BadParameter(str(exc), param_hint="'--config'") from None
    if len({c.label for c in sim_configs}) != len(sim_configs):
        raise click.BadParameter("the same configuration is given twice", param_hint="'--config'")
    events = _parse("failure", failures, "'--fail'") + _parse("maintenance", maintenances, "'--maintenance'")
    if trace is not None:
        try:
            workload_arrivals = read_trace(trace, [f.name for f in mix])
        except WorkloadError as exc:
            raise click.BadParameter(str(exc), param_hint="'--trace'") from None
        workload: dict[str, Any] = {"kind": "trace", "trace": str(trace), "arrivals": len(workload_arrivals)}
    else:
        try:
            dist = parse_lifetime(lifetime)
        except WorkloadError as exc:
            raise click.BadParameter(str(exc), param_hint="'--lifetime'") from None
        workload_arrivals = synthetic(arrivals, rate, dist, mix, random.Random(f"allotment-sim:workload:{seed}"))
        workload = {"kind": "synthetic", "arrivals": arrivals, "rate_per_s": rate, "lifetime": str(dist)}
    fleet = FleetSpec(hosts, host_vcpus, host_memory_mb, host_disk_gb, cpu_allocation_ratio, ram_allocation_ratio)
    plan = Plan(fleet, mix, workload_arrivals, workload, sim_configs, events, seed=seed, sample_every=sample_every,
                url=url, verify=verify, jobs=jobs)

    def progress(line: str) -> None:
        if not quiet:
            click.echo(line, err=True)

    try:
        document = run_plan(plan, None if quiet else progress)
    except httpx.TransportError as exc:
        raise CommandError(f"cannot reach placement at {url}: {exc}") from None
    except PlacementError as exc:
        raise CommandError(f"placement refused a simulator request: {exc}") from None
    results_path.parent.mkdir(parents=True, exist_ok=True)
    results_path.write_text(json.dumps(document, indent=1) + "\n")
    progress(f"results: {results_path}")
    if not no_plot:
        from allotment.simulator.plots import write_plot

        progress(f"plot: {write_plot(document, plot or results_path.with_suffix('.png'))}")
    out.listing(COMPARISON_FIELDS, comparison_rows(document), title="configurations compared")
    if not out.structured and out.fmt == "table":
        reasons = [(run["label"], reason, count)
                   for run in document["runs"] for reason, count in run["refusals"].items()]
        if reasons:
            Output("table").listing(("config", "refusal reason (NoValidHost)", "count"), reasons, title="refusals")
    mismatched = [r["label"] for r in document["runs"] if r.get("usage_mismatches")]
    if mismatched:
        raise CommandError(f"placement usages differ from the simulator's ledger in: {', '.join(mismatched)}")
