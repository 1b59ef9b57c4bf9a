"""The ``simulate`` workload at tiny scale against a real allotment server and in-process."""

from __future__ import annotations

from pathlib import Path

import orjson
from click.testing import CliRunner

from allotment.bench.cli import bench
from allotment.bench.workloads.simulate import MODES

HOSTS = 8
ARRIVALS = 40


def test_simulate_smoke_against_allotment(tmp_path: Path) -> None:
    out = tmp_path / "results"
    result = CliRunner().invoke(bench, ["run", "--workload", "simulate", "--providers", str(HOSTS),
                                        "--arrivals", str(ARRIVALS), "--targets", "allotment", "--out", str(out)])
    assert result.exit_code == 0, result.output
    doc = orjson.loads(next(out.glob("*.json")).read_bytes())
    run = doc["targets"]["allotment"]["runs"][0]
    assert run["error"] is None
    figures = run["workloads"]["simulate"]["figures"]
    details = run["workloads"]["simulate"]["details"]
    for mode in MODES:
        # Every arrival is either placed or refused, and the ledger matches placement's usages.
        assert figures[f"{mode}.placed"] + figures[f"{mode}.refused"] == ARRIVALS, mode
        assert figures[f"{mode}.placed"] > 0 and figures[f"{mode}.placements_per_s"] > 0
        assert figures[f"{mode}.usage_mismatches"] == 0
        assert figures[f"{mode}.schedule_p99_ms"] >= figures[f"{mode}.schedule_p50_ms"] > 0
        assert details[mode]["summary"]["hosts"] == HOSTS
    # The same seeded workload on the same fleet gets the same decisions whichever way placement is reached.
    assert figures["http.placed"] == figures["inprocess.placed"]
    assert details["http"]["placement"].startswith("http")
    assert details["inprocess"]["placement"].startswith("in-process")
    assert "simulate" not in doc["ratios"]
