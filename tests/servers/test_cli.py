"""The ``allotment server``/``audit``/``compute``/``servers`` commands against a served compute API, end to end."""

from __future__ import annotations

import json
from collections.abc import Iterator

import pytest
from click.testing import CliRunner, Result

from allotment.cli.main import cli
from allotment.servers.compute import HostInventory
from allotment.servers.httpd import serve_in_thread
from tests.servers.harness import Harness, open_harness

HOST = HostInventory.simple(vcpus=4, memory_mb=4096, disk_gb=40)
FLAVOR = ["--vcpus", "1", "--memory-mb", "512", "--root-gb", "1", "--flavor-name", "small"]


@pytest.fixture
def served(db_url: str) -> Iterator[tuple[Harness, str]]:
    with open_harness(db_url, computes={"cn1": HOST, "cn2": HOST}) as h:
        server, url = serve_in_thread(h.cloud.app)
        try:
            yield h, url
        finally:
            server.shutdown()
            server.server_close()


def run(url: str, *args: str, code: int = 0) -> Result:
    result = CliRunner().invoke(cli, ["server", "--compute-url", url, *args])
    assert result.exit_code == code, result.output
    return result


def as_json(result: Result) -> object:
    return json.loads(result.stdout)


def test_server_commands_drive_the_whole_flow(served: tuple[Harness, str], db_url: str) -> None:
    h, url = served
    created = as_json(run(url, "create", "web", *FLAVOR, "--wait", "-f", "json"))
    assert isinstance(created, list) and created[0]["status"] == "ACTIVE"
    uuid, source = created[0]["id"], created[0]["host"]
    h.check_usages()

    batch = as_json(run(url, "create", "batch", *FLAVOR, "--min-count", "3", "--max-count", "3",
                        "--return-reservation-id", "-f", "json"))
    assert isinstance(batch, dict) and batch["reservation_id"].startswith("r-")
    listed = as_json(run(url, "list", "--reservation-id", batch["reservation_id"], "-f", "json"))
    assert isinstance(listed, list) and len(listed) == 3
    for s in listed:
        h.wait_for(s["id"], "ACTIVE")
    h.check_usages()

    resized = as_json(run(url, "resize", uuid, "--vcpus", "2", "--memory-mb", "1024", "--flavor-name", "large",
                          "--wait", "-f", "json"))
    assert isinstance(resized, dict) and resized["status"] == "VERIFY_RESIZE" and resized["host"] != source
    h.check_usages()
    reverted = as_json(run(url, "revert", uuid, "--wait", "-f", "json"))
    assert isinstance(reverted, dict) and (reverted["status"], reverted["host"]) == ("ACTIVE", source)
    h.check_usages()

    migrated = as_json(run(url, "migrate", uuid, "--wait", "-f", "json"))
    assert isinstance(migrated, dict) and migrated["status"] == "VERIFY_RESIZE"
    confirmed = as_json(run(url, "confirm", uuid, "--wait", "-f", "json"))
    assert isinstance(confirmed, dict) and confirmed["status"] == "ACTIVE" and confirmed["host"] != source
    h.check_usages()

    refused = run(url, "evacuate", uuid, code=1)
    assert "(servers.host_up)" in refused.output
    h.cloud.registry.set_host_status(confirmed["host"], forced_down=True)
    evacuated = as_json(run(url, "evacuate", uuid, "--wait", "-f", "json"))
    assert isinstance(evacuated, dict) and evacuated["host"] == source
    h.check_usages()

    actions = run(url, "actions", uuid, "-f", "value", "-c", "action", "-c", "result").stdout.split("\n")
    assert actions[:-1] == ["create Success", "resize Success", "revertResize Success", "migrate Success",
                            "confirmResize Success", "evacuate Success"]

    assert "deleted" in run(url, "delete", uuid, "--wait").stdout
    shown = as_json(run(url, "show", uuid, "-f", "json"))
    assert isinstance(shown, dict) and shown["status"] == "DELETED"
    h.check_usages()

    audited = CliRunner().invoke(cli, ["--db", db_url, "audit", "--servers-db", db_url, "-f", "json"])
    assert audited.exit_code == 0, audited.output
    assert json.loads(audited.stdout) == []


def test_audit_command_heals_an_orphan(served: tuple[Harness, str], db_url: str) -> None:
    h, _ = served
    from allotment.client import Allocations

    root = h.cloud.host_roots()["cn1"]
    h.cloud.placement.put_allocations("11111111-2222-3333-4444-555555555555", Allocations(
        allocations={root: {"VCPU": 1}}, project_id="p", user_id="u", consumer_type="INSTANCE"))
    found = CliRunner().invoke(cli, ["--db", db_url, "audit", "--servers-db", db_url, "-f", "json"])
    assert [f["kind"] for f in json.loads(found.stdout)] == ["orphan_allocation"]
    healed = CliRunner().invoke(cli, ["--db", db_url, "audit", "--servers-db", db_url, "--heal", "-f", "json"])
    assert json.loads(healed.stdout)[0]["action"] == "allocations deleted"
    h.check_usages()


def test_errors_and_usage(served: tuple[Harness, str]) -> None:
    _, url = served
    assert "could not be found (servers.not_found)" in run(url, "show", "0b6c4f4e-2d2f-4c1e-9f5e-8a1d2b3c4d5e",
                                                           code=1).output
    assert "cannot reach the compute API" in run("http://127.0.0.1:9", "list", code=1).output
    for args in (["server", "create"], ["server", "show"], ["server", "create", "x"], ["compute", "run"],
                 ["server", "resize", "x"]):
        assert CliRunner().invoke(cli, args).exit_code == 2, args
    for args in (["server"], ["servers", "serve"], ["compute", "run"], ["audit"], ["server", "create"]):
        result = CliRunner().invoke(cli, [*args, "--help"])
        assert result.exit_code == 0 and "Usage:" in result.output, args
