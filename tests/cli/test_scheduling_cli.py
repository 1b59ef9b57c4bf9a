"""``allotment schedule`` and ``allotment scheduler serve`` against a real fleet.

The fleet's providers live in placement on a SQLite file (reached by the command with
``--placement-db``, the direct client) and its hosts in a registry on another SQLite file
(``--db``). What the command prints is checked against placement's allocations.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
import uuid as uuidlib
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
import yaml
from click.testing import CliRunner, Result

from allotment.bench.servers import free_port
from allotment.cli.scheduling import schedule, scheduler
from tests.scheduler.fleet import Fleet, boot_spec, flavor, open_fleet

HOSTS = 3
# The developer's shell must not steer the tests.
CLEAN_ENV: dict[str, str | None] = {name: None for name in (
    "ALLOTMENT_URL", "ALLOTMENT_DB", "ALLOTMENT_SCHEDULER_DB", "ALLOTMENT_SCHEDULER_URL")}


@pytest.fixture
def fleet(tmp_path: Path) -> Iterator[Fleet]:
    with open_fleet(tmp_path) as f:
        f.add_hosts(HOSTS, vcpus=4, memory_mb=4096, disk_gb=100)
        yield f


def _where(tmp_path: Path) -> list[str]:
    return ["--placement-db", f"sqlite:///{tmp_path / 'placement.sqlite'}",
            "--db", f"sqlite:///{tmp_path / 'registry.sqlite'}"]


def _run(*args: str, env: dict[str, str | None] | None = None) -> Result:
    return CliRunner().invoke(schedule, list(args), env={**CLEAN_ENV, **(env or {})}, catch_exceptions=False)


def _ok_json(result: Result) -> dict:
    assert result.exit_code == 0, f"exit {result.exit_code}\nstdout: {result.stdout}\nstderr: {result.stderr}"
    return json.loads(result.stdout)


def _check_claimed(fleet: Fleet, result: dict, amounts: dict[str, int]) -> list[str]:
    """Every instance holds ``amounts`` on the root of its chosen host, and nothing on its alternates."""
    hosts = []
    for instance, selections in zip(result["instance_uuids"], result["selections"], strict=True):
        chosen, *alternates = selections
        assert fleet.roots[chosen["host"]] == chosen["compute_node_uuid"]
        assert fleet.allocations(instance) == {chosen["compute_node_uuid"]: amounts}
        assert fleet.host_of(instance) == chosen["host"]
        for alt in alternates:
            assert alt["host"] in fleet.roots and alt["host"] != chosen["host"]
            assert list(alt["allocation_request"]["allocations"]) == [fleet.roots[alt["host"]]]
        hosts.append(chosen["host"])
    return hosts


def test_schedule_claims_real_hosts_and_prints_json(fleet: Fleet, tmp_path: Path) -> None:
    result = _ok_json(_run("--vcpus", "2", "--memory-mb", "1024", "--root-gb", "10", "-n", "2", "-f", "json",
                           *_where(tmp_path)))
    assert len(result["instance_uuids"]) == 2 and result["reservation_id"]
    hosts = _check_claimed(fleet, result, {"VCPU": 2, "MEMORY_MB": 1024, "DISK_GB": 10})
    assert len(set(hosts)) == 2  # the RAM weigher spreads them
    assert set(result["timings"]) >= {"placement_query", "filtering", "weighing", "claim", "total"}
    assert fleet.over_capacity() == []


def test_schedule_table_shows_instances_alternates_and_timings(fleet: Fleet, tmp_path: Path) -> None:
    result = _run("--vcpus", "1", "--memory-mb", "512", *_where(tmp_path))
    assert result.exit_code == 0, result.stderr
    out = result.stdout
    assert "reservation r-" in out and "timings" in out and "placement_query" in out
    held = [name for name in fleet.roots if fleet.usages(name)]
    assert len(held) == 1 and held[0] in out
    # The two other hosts are the alternates (max_attempts 3).
    assert all(name in out for name in fleet.roots)


def test_schedule_output_formats(fleet: Fleet, tmp_path: Path) -> None:
    # value and CSV: a row per instance (-c picks columns); YAML without -c: the whole result.
    result = _run("--vcpus", "1", "--memory-mb", "512", "-n", "2", "-f", "value", "-c", "host", *_where(tmp_path))
    assert result.exit_code == 0, result.stderr
    assert len(result.stdout.splitlines()) == 2 and set(result.stdout.split()) <= set(fleet.roots)
    result = _run("--vcpus", "1", "--memory-mb", "512", "--no-alternates", "-f", "csv", *_where(tmp_path))
    header, row = result.stdout.splitlines()
    assert header == '"instance","host","node","provider","alternates"' and row.endswith(',""')
    body = yaml.safe_load(_run("--vcpus", "1", "--memory-mb", "512", "-f", "yaml", *_where(tmp_path)).stdout)
    assert set(body) >= {"reservation_id", "instance_uuids", "selections", "timings"}
    rows = _ok_json(_run("--vcpus", "1", "--memory-mb", "512", "-f", "json", "-c", "instance", "-c", "alternates",
                         *_where(tmp_path)))
    assert list(rows[0]) == ["instance", "alternates"] and len(rows[0]["alternates"]) == 2


def test_schedule_no_alternates(fleet: Fleet, tmp_path: Path) -> None:
    result = _ok_json(_run("--vcpus", "1", "--memory-mb", "512", "--no-alternates", "-f", "json", *_where(tmp_path)))
    assert [len(s) for s in result["selections"]] == [1]


def test_no_valid_host_is_an_error_and_claims_nothing(fleet: Fleet, tmp_path: Path) -> None:
    result = _run("--vcpus", "64", "--memory-mb", "512", *_where(tmp_path))
    assert result.exit_code == 1
    assert result.stderr.startswith("error: no valid host: ") and "Traceback" not in result.stderr
    assert result.stdout == "" and result.stderr.splitlines()[0].endswith("(scheduler.no_valid_host)")
    # Three fit one VCPU each, not four of 4 VCPUs on 3 hosts: all or nothing.
    result = _run("--vcpus", "4", "--memory-mb", "512", "-n", "4", *_where(tmp_path))
    assert result.exit_code == 1 and result.stderr.startswith("error: no valid host: ")
    assert fleet.total_usage() == {name: {} for name in fleet.roots}


def test_spec_file(fleet: Fleet, tmp_path: Path) -> None:
    instance = str(uuidlib.uuid4())
    spec_file = tmp_path / "spec.json"
    spec_file.write_bytes(boot_spec(flavor(vcpus=3, memory_mb=2048, root_gb=5), instance_uuids=[instance]).to_json())
    result = _ok_json(_run("--spec", str(spec_file), "-f", "json", *_where(tmp_path)))
    assert result["instance_uuids"] == [instance]
    _check_claimed(fleet, result, {"VCPU": 3, "MEMORY_MB": 2048, "DISK_GB": 5})
    # The same instance again: it already holds allocations.
    again = _run("--spec", str(spec_file), *_where(tmp_path))
    assert again.exit_code == 1 and again.stderr.startswith("error: invalid request: ")


def test_spec_file_problems_are_clear(fleet: Fleet, tmp_path: Path) -> None:
    spec_file = tmp_path / "spec.json"
    spec_file.write_text("{not json")
    result = _run("--spec", str(spec_file), *_where(tmp_path))
    assert result.exit_code == 1 and result.stderr.startswith(f"error: invalid request spec in {spec_file}: ")
    spec_file.write_text(json.dumps({"flavor": {"name": "x", "vcpus": -1, "memory_mb": 1}}))
    result = _run("--spec", str(spec_file), *_where(tmp_path))
    assert result.exit_code == 1 and "flavor.vcpus" in result.stderr
    result = _run("--spec", str(tmp_path / "missing.json"), *_where(tmp_path))
    assert result.exit_code == 2 and "cannot read" in result.stderr
    result = _run("--spec", str(spec_file), "--vcpus", "1", *_where(tmp_path))
    assert result.exit_code == 2 and "leave out --vcpus" in result.stderr


def test_server_group_from_the_registry(fleet: Fleet, tmp_path: Path) -> None:
    group = fleet.add_group("anti-affinity")
    result = _ok_json(_run("--vcpus", "1", "--memory-mb", "256", "-n", str(HOSTS), "--group", group.uuid,
                           "-f", "json", *_where(tmp_path)))
    hosts = _check_claimed(fleet, result, {"VCPU": 1, "MEMORY_MB": 256})
    assert sorted(hosts) == sorted(fleet.roots)
    assert sorted(fleet.registry.get_group(group.uuid).members) == sorted(result["instance_uuids"])
    # Every host holds a member: one more cannot go anywhere.
    more = _run("--vcpus", "1", "--memory-mb", "256", "--group", group.uuid, *_where(tmp_path))
    assert more.exit_code == 1 and more.stderr.startswith("error: no valid host: ")
    unknown = _run("--vcpus", "1", "--memory-mb", "256", "--group", str(uuidlib.uuid4()), *_where(tmp_path))
    assert unknown.exit_code == 1 and "is not registered" in unknown.stderr


def test_bad_flags(fleet: Fleet, tmp_path: Path) -> None:
    cases = [
        (("--memory-mb", "512"), 2, "give --vcpus and --memory-mb"),
        (("--vcpus", "1", "--memory-mb", "512", "--extra-spec", "novalue"), 2, "'novalue' is not KEY=VALUE"),
        (("--vcpus", "1", "--memory-mb", "512", "--hint", "=x"), 2, "is not KEY=VALUE"),
        (("--vcpus", "0", "--memory-mb", "512"), 2, "--vcpus"),
        (("--vcpus", "1", "--memory-mb", "512", "--extra-spec", "group_policy=sometimes"), 1, "error: invalid request"),
        (("--vcpus", "1", "--memory-mb", "512", "--placement-url", "http://x", "--placement-db", "sqlite://"), 2,
         "not both"),
    ]
    for args, code, message in cases:
        result = _run(*args, *(_where(tmp_path) if "--placement-url" not in args else []))
        assert result.exit_code == code, (args, result.stderr)
        assert message in result.stderr, (args, result.stderr)
        assert "Traceback" not in result.stderr
    assert fleet.total_usage() == {name: {} for name in fleet.roots}


def test_unreachable_placement_and_bad_registry_url(fleet: Fleet, tmp_path: Path) -> None:
    registry = f"sqlite:///{tmp_path / 'registry.sqlite'}"
    result = _run("--vcpus", "1", "--memory-mb", "512", "--placement-url", "http://127.0.0.1:9", "--db", registry)
    assert result.exit_code == 1 and result.stderr.startswith("error: cannot reach placement at http://127.0.0.1:9")
    result = _run("--vcpus", "1", "--memory-mb", "512", "--placement-db", f"sqlite:///{tmp_path / 'placement.sqlite'}",
                  "--db", "nosuchdriver://user:secret@host/db")
    assert result.exit_code == 1 and result.stderr.startswith("error: cannot open the registry database")
    assert "secret" not in result.stderr


def test_environment_names_placement_and_registry(fleet: Fleet, tmp_path: Path) -> None:
    env = {"ALLOTMENT_DB": f"sqlite:///{tmp_path / 'placement.sqlite'}",
           "ALLOTMENT_SCHEDULER_DB": f"sqlite:///{tmp_path / 'registry.sqlite'}"}
    result = _ok_json(_run("--vcpus", "1", "--memory-mb", "512", "-f", "json", env=env))
    _check_claimed(fleet, result, {"VCPU": 1, "MEMORY_MB": 512})


# ---- scheduler serve ---------------------------------------------------------------------------


@pytest.fixture
def service(fleet: Fleet, tmp_path: Path) -> Iterator[str]:
    """``allotment scheduler serve`` as a subprocess on a free port, over the fleet's placement and registry."""
    port = free_port()
    log = (tmp_path / "serve.log").open("w")
    args = [sys.executable, "-c", "from allotment.cli.scheduling import scheduler; scheduler()",
            "serve", "--port", str(port), "--workers", "1", *_where(tmp_path)]
    env = {k: v for k, v in os.environ.items() if k not in CLEAN_ENV}
    proc = subprocess.Popen(args, stdout=log, stderr=subprocess.STDOUT, env=env)
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while True:
            assert proc.poll() is None, (tmp_path / "serve.log").read_text()
            try:
                if httpx.get(f"{url}/", timeout=2).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            assert time.monotonic() < deadline, (tmp_path / "serve.log").read_text()
            time.sleep(0.2)
        yield url
    finally:
        proc.terminate()
        proc.wait(timeout=30)
        log.close()


def test_serve_answers_select_destinations(fleet: Fleet, service: str, tmp_path: Path) -> None:
    root = httpx.get(f"{service}/").json()
    assert "/select_destinations" in root["routes"] and "/hosts" in root["routes"]
    instance = str(uuidlib.uuid4())
    spec = boot_spec(flavor(vcpus=2, memory_mb=1024), instance_uuids=[instance])
    resp = httpx.post(f"{service}/select_destinations", json={"request_spec": spec.to_dict()}, timeout=60)
    assert resp.status_code == 200, resp.text
    _check_claimed(fleet, resp.json(), {"VCPU": 2, "MEMORY_MB": 1024, "DISK_GB": 1})
    # The service's registry is the fleet's: the instance is recorded on its host.
    assert fleet.registry.get_instance(instance).host == resp.json()["selections"][0][0]["host"]

    # ``allotment schedule --scheduler-url`` goes through it.
    result = _ok_json(_run("--vcpus", "1", "--memory-mb", "256", "-n", "2", "-f", "json", "--scheduler-url", service))
    _check_claimed(fleet, result, {"VCPU": 1, "MEMORY_MB": 256})
    result = _run("--vcpus", "64", "--memory-mb", "256", env={"ALLOTMENT_SCHEDULER_URL": service})
    assert result.exit_code == 1
    assert result.stderr.startswith("error: no valid host: placement found no allocation candidates"), result.stderr
    result = _run("--vcpus", "1", "--memory-mb", "256", "--extra-spec", "hw:cpu_policy=sometimes",
                  "--scheduler-url", service)
    assert result.exit_code == 1 and result.stderr.startswith("error: invalid request"), result.stderr
    result = _run("--vcpus", "1", "--memory-mb", "256", "--scheduler-url", service, "--db", "sqlite://")
    assert result.exit_code == 2 and "leave out --db" in result.stderr

    # The served app keeps placement in step with the registry: a host put in an aggregate
    # there lands in the placement aggregate of the same uuid.
    name, root = next(iter(fleet.roots.items()))
    agg = httpx.post(f"{service}/aggregates", json={"name": "rack9"}).json()["uuid"]
    assert httpx.put(f"{service}/aggregates/{agg}/hosts/{name}").status_code == 200
    assert fleet.placement.get_aggregates(root)[1] == [agg]


def test_schedule_reports_an_unreachable_scheduler(tmp_path: Path) -> None:
    url = f"http://127.0.0.1:{free_port()}"
    result = _run("--vcpus", "1", "--memory-mb", "256", "--scheduler-url", url)
    assert result.exit_code == 1 and result.stderr.startswith(f"error: cannot reach the scheduler at {url}")


def test_serve_refuses_a_bad_configuration(tmp_path: Path) -> None:
    conf = tmp_path / "scheduler.toml"
    conf.write_text('[scheduler]\nenabled_filters = ["NoSuchFilter"]\n')
    result = CliRunner().invoke(scheduler, ["serve", "--config", str(conf), *_where(tmp_path)], env=CLEAN_ENV)
    assert result.exit_code == 2 and "unknown filter 'NoSuchFilter'" in result.stderr, result.output
    conf.write_text('[scheduler]\nmax_atempts = 3\n')
    result = CliRunner().invoke(scheduler, ["serve", "--config", str(conf), *_where(tmp_path)], env=CLEAN_ENV)
    assert result.exit_code == 2 and "unknown [scheduler] option(s): max_atempts" in result.stderr, result.output


def test_config_file_names_placement_registry_and_options(fleet: Fleet, tmp_path: Path) -> None:
    conf = tmp_path / "scheduler.toml"
    conf.write_text(f'[scheduler]\nplacement_db = "sqlite:///{tmp_path / "placement.sqlite"}"\n'
                    f'db_url = "sqlite:///{tmp_path / "registry.sqlite"}"\nmax_attempts = 2\n')
    result = _ok_json(_run("--vcpus", "1", "--memory-mb", "512", "-f", "json", "--config", str(conf)))
    _check_claimed(fleet, result, {"VCPU": 1, "MEMORY_MB": 512})
    assert [len(s) for s in result["selections"]] == [2]  # the host and one alternate
    # A flag beats the file: this placement is empty, so nothing fits.
    result = _run("--vcpus", "1", "--memory-mb", "512", "--config", str(conf),
                  "--placement-db", f"sqlite:///{tmp_path / 'other.sqlite'}")
    assert result.exit_code == 1 and result.stderr.startswith("error: no valid host: ")


def test_spec_file_refuses_each_request_flag_by_its_name(fleet: Fleet, tmp_path: Path) -> None:
    spec_file = tmp_path / "spec.json"
    spec_file.write_bytes(boot_spec().to_json())
    for args, name in ((("--extra-spec", "a=b"), "--extra-spec"), (("--hint", "a=b"), "--hint"),
                       (("-n", "2"), "--num-instances"), (("--image-property", "a=b"), "--image-property"),
                       (("--flavor-vcpus", "2"), "--vcpus")):
        result = _run("--spec", str(spec_file), *args, *_where(tmp_path))
        assert result.exit_code == 2 and f"leave out {name}" in result.stderr, result.stderr
