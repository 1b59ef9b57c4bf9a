"""``allotment host ...`` through click's CliRunner, on a real SQLite registry (direct) and via env vars."""

from __future__ import annotations

import json

import pytest
import yaml
from click.testing import CliRunner, Result

from allotment.cli.hosts import host
from allotment.scheduler.registry import Registry
from tests.scheduler.registry.conftest import new_uuid


@pytest.fixture
def db(tmp_path) -> str:  # type: ignore[no-untyped-def]
    return f"sqlite:///{tmp_path}/registry.sqlite"


def run(db: str, *args: str) -> Result:
    result = CliRunner().invoke(host, ["--db", db, *args])
    assert result.exception is None or isinstance(result.exception, SystemExit), result.exception
    return result


def test_register_list_show_as_json_and_table(db: str) -> None:
    rp = new_uuid()
    r = run(db, "register", "c1", "--provider", rp, "--hypervisor-type", "QEMU", "--hypervisor-version", "8002000",
            "--supported-instance", "x86_64,qemu,hvm", "--cpu-info", '{"arch": "x86_64"}', "--stat", "k=v",
            "--cell", "cell1", "-f", "json")
    assert r.exit_code == 0, r.output
    body = json.loads(r.output)
    assert (body["provider_uuid"], body["hypervisor_version"], body["supported_instances"], body["cpu_info"],
            body["stats"], body["cell"]) == (rp, 8002000, [["x86_64", "qemu", "hvm"]], {"arch": "x86_64"},
                                             {"k": "v"}, "cell1")
    r = run(db, "list")
    assert r.exit_code == 0 and "c1" in r.output and rp in r.output and "True" in r.output
    assert [h["name"] for h in json.loads(run(db, "list", "--cell", "cell1", "-f", "json").output)] == ["c1"]
    assert json.loads(run(db, "list", "--cell", "other", "-f", "json").output) == []
    r = run(db, "show", "c1")
    assert r.exit_code == 0 and "hypervisor_type" in r.output and "QEMU" in r.output
    with Registry.open(db) as reg:
        assert reg.get_host("c1").hypervisor_type == "QEMU"


def test_output_follows_the_placement_commands(db: str) -> None:
    # One convention for every command: None prints as None in text, null in JSON and YAML,
    # an empty CSV field; timestamps are ISO 8601 UTC in every format; -c picks any field.
    rp = new_uuid()
    assert run(db, "register", "c1", "--provider", rp).exit_code == 0
    r = run(db, "list", "-f", "value")
    name, provider, cell, hypervisor, up, disabled, _forced_down, heartbeat = r.stdout.split()
    assert (name, provider, cell, hypervisor, up, disabled) == ("c1", rp, "None", "None", "True", "False")
    assert heartbeat.endswith("Z") and "T" in heartbeat
    rows = yaml.safe_load(run(db, "list", "-f", "yaml").stdout)
    assert rows[0]["cell"] is None and rows[0]["last_heartbeat"] == heartbeat and rows[0]["stats"] == {}
    r = run(db, "list", "-f", "csv", "-c", "name", "-c", "cell", "-c", "hypervisor_version")
    assert r.stdout == '"name","cell","hypervisor_version"\n"c1","",""\n'
    assert run(db, "show", "c1", "-f", "value", "-c", "host_ip").stdout == "None\n"
    r = run(db, "list", "-c", "no_such")
    assert r.exit_code == 2 and "no column no_such" in r.stderr


def test_heartbeat_disable_enable_force_down_delete(db: str) -> None:
    run(db, "register", "c1", "--provider", new_uuid())
    assert run(db, "heartbeat", "c1").exit_code == 0
    body = json.loads(run(db, "disable", "c1", "--reason", "firmware", "-f", "json").output)
    assert body["disabled"] and body["disabled_reason"] == "firmware"
    body = json.loads(run(db, "enable", "c1", "-f", "json").output)
    assert not body["disabled"] and body["disabled_reason"] is None
    body = json.loads(run(db, "force-down", "c1", "-f", "json").output)
    assert body["forced_down"] and not body["up"]
    body = json.loads(run(db, "force-down", "c1", "--clear", "-f", "json").output)
    assert not body["forced_down"] and body["up"]
    assert run(db, "delete", "c1").exit_code == 0
    with Registry.open(db) as reg:
        assert reg.list_hosts() == []


def test_aggregates_by_name_or_uuid(db: str) -> None:
    run(db, "register", "c1", "--provider", new_uuid())
    agg = json.loads(run(db, "aggregate", "create", "rack1", "--zone", "az1", "--property", "ssd=true",
                         "-f", "json").output)
    assert agg["metadata"] == {"availability_zone": "az1", "ssd": "true"}
    assert json.loads(run(db, "aggregate", "add-host", "rack1", "c1", "-f", "json").output)["hosts"] == ["c1"]
    body = json.loads(run(db, "aggregate", "set", agg["uuid"], "--name", "rack-one", "--unset-property", "ssd",
                          "--property", "gpu=yes", "-f", "json").output)
    assert body["name"] == "rack-one" and body["metadata"] == {"availability_zone": "az1", "gpu": "yes"}
    r = run(db, "aggregate", "list")
    assert "rack-one" in r.output and "availability_zone=az1" in r.output
    assert json.loads(run(db, "aggregate", "show", "rack-one", "-f", "json").output)["uuid"] == agg["uuid"]
    r = run(db, "aggregate", "delete", "rack-one")
    assert r.exit_code == 1 and "still has 1 host" in r.output
    assert json.loads(run(db, "aggregate", "remove-host", "rack-one", "c1", "-f", "json").output)["hosts"] == []
    assert run(db, "aggregate", "delete", "rack-one").exit_code == 0
    assert json.loads(run(db, "aggregate", "list", "-f", "json").output) == []


def test_errors_are_one_line_and_exit_1(db: str) -> None:
    r = run(db, "show", "ghost")
    assert r.exit_code == 1 and "error: host 'ghost' is not registered (scheduler.host.not_found)" in r.output
    r = run(db, "register", "c1", "--provider", "not-a-uuid")
    assert r.exit_code == 1 and "not a valid UUID" in r.output
    r = run(db, "register", "c1", "--provider", new_uuid(), "--supported-instance", "x86_64,qemu")
    assert r.exit_code == 2 and "ARCH,HV,MODE" in r.output
    r = run(db, "register", "c1", "--provider", new_uuid(), "--cpu-info", "{bad")
    assert r.exit_code == 2 and "not JSON" in r.output
    r = run(db, "aggregate", "set", "nothing")
    assert r.exit_code == 2 and "nothing to set" in r.output
    r = run(db, "aggregate", "show", "no-such")
    assert r.exit_code == 1 and "error: no aggregate named 'no-such' (scheduler.aggregate.not_found)" in r.output
    with Registry.open(db) as reg:
        assert reg.list_hosts() == []


def test_where_the_registry_is(db: str, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("ALLOTMENT_SCHEDULER_DB", raising=False)
    monkeypatch.delenv("ALLOTMENT_SCHEDULER_URL", raising=False)
    r = CliRunner().invoke(host, ["list"])
    assert r.exit_code == 2 and "--url" in r.output and "--db" in r.output
    monkeypatch.setenv("ALLOTMENT_SCHEDULER_DB", db)
    rp = new_uuid()
    assert CliRunner().invoke(host, ["register", "c1", "--provider", rp]).exit_code == 0
    # An unreachable URL in the environment loses to --db given on the command line.
    monkeypatch.setenv("ALLOTMENT_SCHEDULER_URL", "http://127.0.0.1:9")
    r = CliRunner().invoke(host, ["--db", db, "list", "-f", "json"])
    assert r.exit_code == 0 and json.loads(r.output)[0]["provider_uuid"] == rp
    r = CliRunner().invoke(host, ["list"])
    assert r.exit_code == 1 and "cannot reach the scheduler API" in r.output
