"""``allotment schedule`` and ``allotment scheduler serve`` against a real fleet.

The fleet's providers live in placement on a SQLite file (reached by the command with
``--placement-db``, the direct client) and its hosts in a registry on another SQLite file
(``--db``). What the command prints is checked against placement's allocations.
"""

from __future__ import annotations

import json
import uuid as uuidlib
from collections.abc import Iterator
from pathlib import Path

import pytest
from click.testing import CliRunner, Result

from allotment.cli.scheduling import schedule
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


def test_schedule_no_alternates(fleet: Fleet, tmp_path: Path) -> None:
    result = _ok_json(_run("--vcpus", "1", "--memory-mb", "512", "--no-alternates", "-f", "json", *_where(tmp_path)))
    assert [len(s) for s in result["selections"]] == [1]


def test_no_valid_host_is_an_error_and_claims_nothing(fleet: Fleet, tmp_path: Path) -> None:
    result = _run("--vcpus", "64", "--memory-mb", "512", *_where(tmp_path))
    assert result.exit_code == 1
    assert result.stderr.startswith("error: no valid host: ") and "Traceback" not in result.stderr
    assert result.stdout == ""
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
