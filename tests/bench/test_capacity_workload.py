"""The ``capacity`` workload at tiny scale against a real allotment server."""

from __future__ import annotations

from pathlib import Path

import orjson
from click.testing import CliRunner

from allotment.bench.cli import bench
from allotment.bench.workloads.capacity import STEPS

HOSTS = 12


def test_capacity_smoke_against_allotment(tmp_path: Path) -> None:
    out = tmp_path / "results"
    result = CliRunner().invoke(bench, ["run", "--workload", "capacity", "--providers", str(HOSTS), "--requests", "3",
                                        "--targets", "allotment", "--out", str(out)])
    assert result.exit_code == 0, result.output
    doc = orjson.loads(next(out.glob("*.json")).read_bytes())
    run = doc["targets"]["allotment"]["runs"][0]
    assert run["error"] is None
    figures = run["workloads"]["capacity"]["figures"]
    details = run["workloads"]["capacity"]["details"]
    # Each host: VCPU 32 (2 each: 16), MEMORY_MB 8192 (1 GiB each: 8), DISK_GB 8192 (20 each): memory bounds it.
    # The count is taken before the workload's own claims.
    assert figures["hosts"] == HOSTS and figures["instances_fit"] == HOSTS * 8 and figures["exact"] == 1
    assert sorted(g["key"] for g in details["by_az"]) == ["az1", "az2", "az3"]
    assert sum(g["instances"] for g in details["by_az"]) == HOSTS * 8
    assert figures["capacity.p99_ms"] >= figures["capacity.p50_ms"] > 0
    for step in STEPS:
        assert figures[f"capacity.{step}.p50_ms"] is not None, step
    assert figures["explain.p50_ms"] > 0 and figures["refused.p50_ms"] >= figures["explain.p50_ms"]
    assert figures["schedule_ok.p50_ms"] > 0 and figures["explain_share_of_ok"] > 0
    assert "capacity" not in doc["ratios"]
