"""The ``boot`` workload at tiny scale against a real allotment server, over both transports."""

from __future__ import annotations

from pathlib import Path

import orjson
import pytest
from click.testing import CliRunner

from allotment.bench.cli import bench
from allotment.bench.workloads import REGISTRY, for_target, resolve
from allotment.bench.workloads.boot import CountingDriver
from allotment.servers.compute.driver import BuildFailed
from tests.servers.rabbit import AMQP_URL, require_broker

COMPUTES = 20


@pytest.mark.parametrize(("transport", "processes"), [("inprocess", 0), ("rabbit", 0), ("rabbit", 2)])
def test_boot_smoke_against_allotment(tmp_path: Path, transport: str, processes: int) -> None:
    url = "inprocess://"
    if transport == "rabbit":
        require_broker()
        url = AMQP_URL
    out = tmp_path / "results"
    result = CliRunner().invoke(bench, ["run", "--workload", "boot", "--providers", str(COMPUTES), "--concurrency", "2",
                                        "--targets", "allotment", "--transport", url, "--boot-processes",
                                        str(processes), "--out", str(out)])
    assert result.exit_code == 0, result.output
    doc = orjson.loads(next(out.glob("*.json")).read_bytes())
    run = doc["targets"]["allotment"]["runs"][0]
    assert run["error"] is None
    figures = run["workloads"]["boot"]["figures"]
    details = run["workloads"]["boot"]["details"]
    assert figures["computes"] == COMPUTES
    assert figures["create_errors"] == 0, details["create_errors"]
    # Every server settled: ACTIVE, or ERROR only once its alternates ran out.
    assert figures["servers_active"] + figures["servers_error"] == COMPUTES, details["not_active"]
    assert figures["servers_active"] >= COMPUTES - 2
    assert figures["leaked_allocations"] == 0, details["leaks"]
    assert figures["overcommitted_providers"] == 0
    assert figures["usage_mismatches"] == 0
    assert figures["audit_findings"] == 0, details["audit"]
    # Each failed spawn is retried on an alternate unless the server ran out of them (ERROR).
    assert figures["reschedules"] >= figures["build_failures"] - figures["servers_error"]
    assert figures["servers_per_s"] > 0
    assert figures["create_to_active.p99_ms"] >= figures["create_to_active.p50_ms"] > 0
    assert "boot" not in doc["ratios"]


def test_worker_processes_need_the_rabbitmq_transport(tmp_path: Path) -> None:
    result = CliRunner().invoke(bench, ["run", "--workload", "boot", "--providers", "2", "--targets", "allotment",
                                        "--boot-processes", "2", "--out", str(tmp_path)])
    assert result.exit_code == 1
    run = orjson.loads(next(tmp_path.glob("*.json")).read_bytes())["targets"]["allotment"]["runs"][0]
    assert "--boot-processes needs --transport amqp://" in run["error"]


def test_the_counting_driver_counts_failed_spawns() -> None:
    driver = CountingDriver(failure_rate=1.0)
    with pytest.raises(BuildFailed):
        driver.spawn("i1", {"vcpus": 1}, {})
    ok = CountingDriver(failure_rate=0.0)
    ok.spawn("i2", {"vcpus": 1}, {})
    assert (driver.failed, ok.failed, ok.list_instances()) == (1, 0, ["i2"])


def test_boot_runs_against_allotment_only_and_needs_no_setup_workload() -> None:
    assert REGISTRY["boot"].targets == ("allotment",)
    order = resolve(["boot"])
    assert [(w.name, m) for w, m in for_target(order, "allotment")] == [("boot", True)]
    assert for_target(order, "upstream") == []
