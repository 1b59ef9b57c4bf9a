"""The ``schedule`` workload at tiny scale against a real allotment server, and how it is kept off upstream."""

from __future__ import annotations

from pathlib import Path

import orjson
from click.testing import CliRunner

from allotment.bench.cli import bench
from allotment.bench.workloads import REGISTRY, for_target, resolve
from allotment.bench.workloads.schedule import MULTI_REQUESTS, STAGES

HOSTS = 20
REQUESTS = 3


def test_schedule_smoke_against_allotment(tmp_path: Path) -> None:
    out = tmp_path / "results"
    result = CliRunner().invoke(bench, ["run", "--workload", "schedule", "--providers", str(HOSTS), "--requests",
                                        str(REQUESTS), "--targets", "allotment", "--out", str(out)])
    assert result.exit_code == 0, result.output
    doc = orjson.loads(next(out.glob("*.json")).read_bytes())
    assert doc["workloads"] == ["schedule"] and doc["setup_workloads"] == ["load"]
    run = doc["targets"]["allotment"]["runs"][0]
    assert run["error"] is None
    figures = run["workloads"]["schedule"]["figures"]
    details = run["workloads"]["schedule"]["details"]
    assert figures["hosts"] == HOSTS
    # 20 hosts of 32 VCPU hold 640 one-VCPU servers: everything asked for fits.
    assert figures["no_valid_host"] == 0, details["no_valid_host_reasons"]
    assert figures["instances_placed"] == REQUESTS + MULTI_REQUESTS * (10 + 100)
    assert figures["overcommitted_providers"] == 0
    assert figures["usage_mismatches"] == 0
    assert figures["placed_without_allocation"] == 0
    assert details["audit"]["placed_found"] == REQUESTS + 1 + MULTI_REQUESTS * 110  # with the untimed first one
    assert 0 < details["providers_claimed_on"] <= HOSTS
    assert figures["one.p95_ms"] >= figures["one.p50_ms"] > 0
    for stage in STAGES:
        assert figures[f"one.{stage}.p50_ms"] > 0, stage
    assert figures["ten.per_instance_ms"] > 0 and figures["hundred.per_instance_ms"] > 0
    assert figures["instances_per_s"] > 0
    # Upstream has no scheduler: no ratio is formed for the workload.
    assert "schedule" not in doc["ratios"]


def test_schedule_runs_against_allotment_only() -> None:
    assert REGISTRY["schedule"].targets == ("allotment",)
    order = resolve(["schedule"])
    assert [(w.name, measured) for w, measured in for_target(order, "allotment")] == [("load", False),
                                                                                      ("schedule", True)]
    # Its setup goes too when nothing else on upstream needs it ...
    assert for_target(order, "upstream") == []
    # ... and stays when another workload does.
    order = resolve(["schedule", "ac"])
    assert [(w.name, measured) for w, measured in for_target(order, "upstream")] == [("load", False), ("ac", True)]
    assert [w.name for w, _ in for_target(resolve(["load", "schedule"]), "upstream")] == ["load"]
