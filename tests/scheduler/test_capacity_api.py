"""GET /capacity on the scheduler API and ``allotment capacity``, over a real fleet."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from click.testing import CliRunner

from allotment.cli.capacity import capacity
from allotment.scheduler.api.app import create_app
from allotment.scheduler.client import SchedulerClient
from tests.cli.test_scheduling_cli import CLEAN_ENV, _where
from tests.scheduler.fleet import Fleet, open_fleet


@pytest.fixture
def fleet(tmp_path: Path) -> Iterator[Fleet]:
    with open_fleet(tmp_path) as f:
        f.add_host("a", vcpus=8, memory_mb=8192)
        f.add_host("b", vcpus=4, memory_mb=4096)
        east = f.registry.create_aggregate("east", metadata={"availability_zone": "east"})
        f.registry.add_aggregate_host(east.uuid, "a")
        # What the scheduler API's aggregate routes write through to placement.
        root = f.roots["a"]
        f.placement.set_aggregates(root, f.placement.get_provider(root).generation, [east.uuid])
        yield f


@pytest.fixture
def api(fleet: Fleet) -> Iterator[httpx.Client]:
    app = create_app(fleet.registry, scheduler=fleet.scheduler())
    with httpx.Client(transport=httpx.WSGITransport(app=app), base_url="http://scheduler") as client:
        yield client


def test_capacity_by_zone(api: httpx.Client) -> None:
    resp = api.get("/capacity", params={"vcpus": 2, "memory_mb": 2048, "by": "az"})
    assert resp.status_code == 200, resp.text
    body = resp.json()
    assert body["total"] == 6 and body["exact"] is True and body["hosts"] == 2 and body["fitting_hosts"] == 2
    assert body["groups"] == [{"key": "east", "instances": 4, "hosts": 1}, {"key": "nova", "instances": 2, "hosts": 1}]
    assert ["resources", "DISK_GB:0,MEMORY_MB:2048,VCPU:2"] not in body["query"]  # no root disk: no DISK_GB
    assert ["resources", "MEMORY_MB:2048,VCPU:2"] in body["query"]


def test_capacity_extra_specs_and_zone_through_the_service_client(api: httpx.Client) -> None:
    client = SchedulerClient(api)
    answer = client.capacity([("vcpus", "1"), ("memory_mb", "512"), ("availability_zone", "east"),
                              ("extra_spec", "hw:cpu_policy=shared")])
    assert answer["total"] == 8 and answer["fitting_hosts"] == 1


@pytest.mark.parametrize(("params", "detail"), [
    ({"memory_mb": "1"}, "vcpus: required"),
    ({"vcpus": "x", "memory_mb": "1"}, "vcpus: 'x' is not an integer"),
    ({"vcpus": "0", "memory_mb": "1"}, "vcpus: must be between 1 and"),
    ({"vcpus": "1", "memory_mb": "1", "by": "rack"}, "by: must be one of az, aggregate, cell, host"),
    ({"vcpus": "1", "memory_mb": "1", "extra_spec": "oops"}, "extra_spec: 'oops' is not KEY=VALUE"),
    ({"vcpus": "1", "memory_mb": "1", "flavor": "x"}, "unknown parameter flavor"),
])
def test_bad_input_is_a_400_naming_the_parameter(api: httpx.Client, params: dict[str, str], detail: str) -> None:
    resp = api.get("/capacity", params=params)
    assert resp.status_code == 400, resp.text
    error = resp.json()["errors"][0]
    assert error["code"] == "scheduler.bad_request" and detail in error["detail"]


def test_a_flavor_no_query_can_be_made_for_is_an_invalid_request_spec(api: httpx.Client) -> None:
    resp = api.get("/capacity", params={"vcpus": "1", "memory_mb": "1", "extra_spec": [
        "resources:VCPU=0", "resources:MEMORY_MB=0"]})
    assert resp.status_code == 400, resp.text
    error = resp.json()["errors"][0]
    assert error["code"] == "scheduler.invalid_request_spec" and "no resources" in error["detail"]


def test_cli_capacity_in_process(fleet: Fleet, tmp_path: Path) -> None:
    for name in ("a", "b"):
        fleet.registry.heartbeat(name)
    run = CliRunner().invoke(capacity, ["--flavor", "vcpus=2,memory_mb=2048", "--by", "host", "-f", "json",
                                        *_where(tmp_path)], env=CLEAN_ENV, catch_exceptions=False)
    assert run.exit_code == 0, run.stderr
    body = json.loads(run.stdout)
    assert body["total"] == 6
    assert body["groups"] == [{"key": "a", "instances": 4, "hosts": 1}, {"key": "b", "instances": 2, "hosts": 1}]
    table = CliRunner().invoke(capacity, ["--flavor", "vcpus=2,memory_mb=2048", "--by", "az", *_where(tmp_path)],
                               env=CLEAN_ENV, catch_exceptions=False)
    assert table.exit_code == 0
    assert "6 instance(s) fit on 2 of 2 host(s)" in table.stdout and "east" in table.stdout


def test_cli_capacity_usage_errors(tmp_path: Path) -> None:
    for args, message in ([[], "Missing option '--flavor'"],
                          [["--flavor", "vcpus=2"], "memory_mb is required"],
                          [["--flavor", "cpus=2,memory_mb=1"], "expected KEY=N"],
                          [["--flavor", "vcpus=2,memory_mb=1", "--by", "rack"], "Invalid value for '--by'"]):
        run = CliRunner().invoke(capacity, args, env=CLEAN_ENV)
        assert run.exit_code == 2 and message in run.stderr, (args, run.stderr)
