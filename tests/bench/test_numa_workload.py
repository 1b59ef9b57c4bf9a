"""The ``numa`` workload at tiny scale against a real allotment server."""

from __future__ import annotations

from pathlib import Path

import orjson
from click.testing import CliRunner

from allotment.bench.cli import bench
from allotment.bench.workloads import REGISTRY, for_target, resolve
from allotment.bench.workloads.numa import FLAVORS

HOSTS = 4
ROUNDS = 3


def test_numa_smoke_against_allotment(tmp_path: Path) -> None:
    out = tmp_path / "results"
    result = CliRunner().invoke(bench, ["run", "--workload", "numa", "--providers", str(HOSTS), "--requests",
                                        str(ROUNDS), "--targets", "allotment", "--out", str(out)])
    assert result.exit_code == 0, result.output
    doc = orjson.loads(next(out.glob("*.json")).read_bytes())
    run = doc["targets"]["allotment"]["runs"][0]
    assert run["error"] is None
    figures = run["workloads"]["numa"]["figures"]
    details = run["workloads"]["numa"]["details"]
    assert figures["hosts"] == HOSTS
    # 4 hosts of 24 dedicated CPUs and 4 devices hold 3 rounds of the 4 flavors.
    assert figures["no_valid_host"] == 0, details["no_valid_host_reasons"]
    assert figures["instances_placed"] == ROUNDS * len(FLAVORS)
    for key in ("cpus_pinned_twice", "devices_given_twice", "cells_over_memory", "cells_over_pages",
                "pcpu_usage_mismatches"):
        assert figures[key] == 0, key
    assert figures["p99_ms"] >= figures["p50_ms"] > 0
    for name in FLAVORS:
        assert figures[f"{name}.p50_ms"] > 0, name
    assert "numa" not in doc["ratios"]


def test_numa_runs_against_allotment_only() -> None:
    assert REGISTRY["numa"].targets == ("allotment",)
    assert for_target(resolve(["numa"]), "upstream") == []
