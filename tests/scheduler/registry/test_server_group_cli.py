"""``allotment host server-group ...`` through click's CliRunner, on a real SQLite registry (direct)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner, Result

from allotment.cli.hosts import host
from allotment.scheduler.registry import Registry
from tests.scheduler.registry.conftest import new_uuid


@pytest.fixture
def db(tmp_path: Path) -> str:
    return f"sqlite:///{tmp_path}/r.sqlite"


def run(db: str, *args: str) -> Result:
    result = CliRunner().invoke(host, ["--db", db, "server-group", *args])
    assert result.exception is None or isinstance(result.exception, SystemExit), result.exception
    return result


def created(db: str, *args: str) -> dict:  # type: ignore[type-arg]
    r = run(db, "create", *args, "-f", "json")
    assert r.exit_code == 0, r.output
    return json.loads(r.stdout)


def test_create_is_what_the_registry_holds(db: str) -> None:
    body = created(db, "web", "--policy", "anti-affinity", "--max-server-per-host", "2", "--project-id", "p1",
                   "--user-id", "u1")
    assert (body["name"], body["policy"], body["rules"], body["project_id"], body["user_id"], body["members"]) == \
        ("web", "anti-affinity", {"max_server_per_host": 2}, "p1", "u1", {})
    with Registry.open(db) as reg:
        group = reg.get_group(body["uuid"])
    assert (group.name, group.policy, group.rules, group.project_id, group.user_id) == \
        ("web", "anti-affinity", {"max_server_per_host": 2}, "p1", "u1")

    soft = created(db, "db", "--policy", "soft-affinity")
    with Registry.open(db) as reg:
        group = reg.get_group(soft["uuid"])
    assert (group.policy, group.rules, group.project_id) == ("soft-affinity", {}, None)


def test_create_with_a_chosen_uuid_and_table_output(db: str) -> None:
    chosen = new_uuid()
    r = run(db, "create", "batch", "--policy", "affinity", "--uuid", chosen)
    assert r.exit_code == 0, r.output
    assert chosen in r.stdout and "affinity" in r.stdout and "Field" in r.stdout
    with Registry.open(db) as reg:
        assert reg.get_group(chosen).name == "batch"
    r = run(db, "create", "again", "--policy", "affinity", "--uuid", chosen)
    assert r.exit_code == 1
    assert r.stderr == f"error: server group {chosen} already exists (scheduler.server_group.duplicate)\n"


def test_list_by_project_as_table_and_json(db: str) -> None:
    a = created(db, "alpha", "--policy", "anti-affinity", "--project-id", "p1")
    b = created(db, "beta", "--policy", "soft-anti-affinity", "--project-id", "p2")
    with Registry.open(db) as reg:
        reg.register_host("c1", new_uuid())
        instance = new_uuid()
        reg.add_group_member(a["uuid"], instance, "c1")
    rows = json.loads(run(db, "list", "-f", "json").stdout)
    assert [(g["name"], g["policy"]) for g in rows] == [("alpha", "anti-affinity"), ("beta", "soft-anti-affinity")]
    assert rows[0]["members"] == {instance: "c1"} and rows[0]["hosts"] == ["c1"]
    assert [g["uuid"] for g in json.loads(run(db, "list", "--project-id", "p2", "-f", "json").stdout)] == [b["uuid"]]
    assert json.loads(run(db, "list", "--project-id", "nobody", "-f", "json").stdout) == []
    r = run(db, "list")
    assert r.exit_code == 0 and a["uuid"] in r.stdout and b["uuid"] in r.stdout and "soft-anti-affinity" in r.stdout
    assert instance not in r.stdout  # the table counts members


def test_show_members_and_their_hosts_by_name_or_uuid(db: str) -> None:
    g = created(db, "spread", "--policy", "anti-affinity", "--max-server-per-host", "2")
    i1, i2, i3 = sorted(new_uuid() for _ in range(3))
    with Registry.open(db) as reg:
        reg.register_host("c1", new_uuid())
        reg.register_host("c2", new_uuid())
        reg.add_group_member(g["uuid"], i1, "c1")
        reg.add_group_member(g["uuid"], i2, "c1")
        reg.add_group_member(g["uuid"], i3, "c2")
    by_name = json.loads(run(db, "show", "spread", "-f", "json").stdout)
    assert by_name["uuid"] == g["uuid"]
    assert by_name["members"] == {i1: "c1", i2: "c1", i3: "c2"} and by_name["hosts"] == ["c1", "c2"]
    assert json.loads(run(db, "show", g["uuid"], "-f", "json").stdout) == by_name
    r = run(db, "show", "spread")
    assert r.exit_code == 0, r.output
    lines = r.stdout.splitlines()
    for instance, on in ((i1, "c1"), (i2, "c1"), (i3, "c2")):
        assert any(instance in line and f" {on} " in line for line in lines), r.stdout
    assert "max_server_per_host=2" in r.stdout


def test_delete_by_name_then_it_is_gone(db: str) -> None:
    g = created(db, "tmp", "--policy", "affinity")
    keep = created(db, "keep", "--policy", "affinity")
    with Registry.open(db) as reg:
        reg.register_host("c1", new_uuid())
        reg.add_group_member(g["uuid"], new_uuid(), "c1")
    r = run(db, "delete", "tmp")
    assert r.exit_code == 0, r.output
    with Registry.open(db) as reg:
        assert [x.uuid for x in reg.list_groups()] == [keep["uuid"]]
    r = run(db, "delete", g["uuid"])
    assert r.exit_code == 1
    assert r.stderr == f"error: server group {g['uuid']} not found (scheduler.server_group.not_found)\n"
    assert run(db, "delete", keep["uuid"]).exit_code == 0
    assert json.loads(run(db, "list", "-f", "json").stdout) == []


def test_unknown_group_exits_1_with_the_code(db: str) -> None:
    ghost = new_uuid()
    r = run(db, "show", ghost)
    assert r.exit_code == 1
    assert r.stderr == f"error: server group {ghost} not found (scheduler.server_group.not_found)\n"
    assert r.stdout == ""
    r = run(db, "show", "ghost")
    assert r.exit_code == 1 and r.stderr == "error: no server group named 'ghost' (scheduler.server_group.not_found)\n"
    r = run(db, "delete", "ghost")
    assert r.exit_code == 1 and "(scheduler.server_group.not_found)" in r.stderr


def test_an_ambiguous_name_is_refused(db: str) -> None:
    a = created(db, "twin", "--policy", "affinity")
    b = created(db, "twin", "--policy", "anti-affinity")
    r = run(db, "delete", "twin")
    assert r.exit_code == 1 and r.stderr.startswith("error: 2 server groups are named 'twin'")
    assert a["uuid"] in r.stderr and b["uuid"] in r.stderr and "(scheduler.conflict)" in r.stderr
    with Registry.open(db) as reg:
        assert len(reg.list_groups()) == 2


@pytest.mark.parametrize("args, message", [
    (("g", "--policy", "sometimes"), "'sometimes' is not one of"),
    (("g",), "Missing option '--policy'"),
    (("g", "--policy", "affinity", "--max-server-per-host", "2"), "only allowed with --policy anti-affinity"),
    (("g", "--policy", "soft-anti-affinity", "--max-server-per-host", "2"), "only allowed with --policy anti"),
    (("g", "--policy", "anti-affinity", "--max-server-per-host", "0"), "0 is not in the range"),
    (("g", "--policy", "anti-affinity", "-f", "xml"), "'xml' is not one of"),
])
def test_usage_errors_exit_2_and_create_nothing(db: str, args: tuple[str, ...], message: str) -> None:
    r = run(db, "create", *args)
    assert r.exit_code == 2 and message in r.stderr, r.output
    with Registry.open(db) as reg:
        assert reg.list_groups() == []
