"""``allotment provider list|show|create|set|delete`` in direct mode."""

from __future__ import annotations

import pytest

from allotment.client import Allocations, Inventory, NotFound, PlacementClient
from tests.cli._support import failed, invoke, ok, ok_json
from tests.cli.conftest import Run

U1 = "11111111-1111-4111-8111-111111111111"
U2 = "22222222-2222-4222-8222-222222222222"
AGG = "aaaaaaaa-aaaa-4aaa-8aaa-aaaaaaaaaaaa"
MISSING = "99999999-9999-4999-8999-999999999999"


def test_create_show_set_delete(run: Run, placement: PlacementClient) -> None:
    made = ok_json(run("provider", "create", "cn1", "--uuid", U1, "-f", "json"))
    assert made == {"uuid": U1, "name": "cn1", "generation": 0, "root_provider_uuid": U1,
                    "parent_provider_uuid": None}
    child = ok_json(run("provider", "create", "cn1-numa0", "--parent-provider", U1, "-f", "json"))
    assert child["parent_provider_uuid"] == U1 and child["root_provider_uuid"] == U1
    assert placement.get_provider(child["uuid"]).name == "cn1-numa0"

    shown = ok_json(run("provider", "show", U1, "-f", "json"))
    assert shown == made

    renamed = ok_json(run("provider", "set", U1, "--name", "compute-1", "-f", "json"))
    assert renamed["name"] == "compute-1"
    assert placement.get_provider(U1).name == "compute-1"
    # Renaming alone keeps the parent (the command does not send a null parent).
    ok(run("provider", "set", child["uuid"], "--name", "numa0"))
    assert placement.get_provider(child["uuid"]).parent_provider_uuid == U1

    # Re-parenting an existing provider.
    ok(run("provider", "create", "cn2", "--uuid", U2))
    moved = ok_json(run("provider", "set", child["uuid"], "--name", "numa0", "--parent-provider", U2, "-f", "json"))
    assert moved["parent_provider_uuid"] == U2 and moved["root_provider_uuid"] == U2

    assert ok(run("provider", "delete", child["uuid"])).stdout == ""
    with pytest.raises(NotFound):
        placement.get_provider(child["uuid"])


def test_show_with_allocations(run: Run, placement: PlacementClient) -> None:
    rp = placement.create_provider("cn1", uuid=U1)
    placement.set_inventories(U1, rp.generation, {"VCPU": Inventory(total=8), "MEMORY_MB": Inventory(total=1024)})
    placement.put_allocations(MISSING, Allocations({U1: {"VCPU": 2, "MEMORY_MB": 256}}, "p", "u", None, "INSTANCE"))
    shown = ok_json(run("provider", "show", U1, "--allocations", "-f", "json"))
    assert shown["allocations"] == {MISSING: {"VCPU": 2, "MEMORY_MB": 256}}
    table = ok(run("provider", "show", U1, "--allocations")).stdout
    assert f"{MISSING}: VCPU=2, MEMORY_MB=256" in table
    # Without the flag there is no allocations field.
    assert "allocations" not in ok_json(run("provider", "show", U1, "-f", "json"))


def _names(result: object) -> list[str]:
    return sorted(p["name"] for p in ok_json(result))


def test_list_filters(run: Run, placement: PlacementClient) -> None:
    cn1 = placement.create_provider("cn1", uuid=U1)
    placement.create_provider("cn1-gpu", parent_uuid=U1)
    cn2 = placement.create_provider("cn2", uuid=U2)
    placement.set_inventories(U1, cn1.generation, {"VCPU": Inventory(total=4)})
    placement.set_inventories(U2, cn2.generation, {"VCPU": Inventory(total=16)})
    placement.set_provider_traits(U2, placement.get_provider(U2).generation, ["HW_CPU_X86_AVX2"])
    placement.set_aggregates(U1, placement.get_provider(U1).generation, [AGG])

    assert _names(run("provider", "list", "-f", "json")) == ["cn1", "cn1-gpu", "cn2"]
    assert _names(run("provider", "list", "--name", "cn2", "-f", "json")) == ["cn2"]
    assert _names(run("provider", "list", "--uuid", U1, "-f", "json")) == ["cn1"]
    assert _names(run("provider", "list", "--in-tree", U1, "-f", "json")) == ["cn1", "cn1-gpu"]
    assert _names(run("provider", "list", "--resource", "VCPU=8", "-f", "json")) == ["cn2"]
    assert _names(run("provider", "list", "--required", "HW_CPU_X86_AVX2", "-f", "json")) == ["cn2"]
    assert _names(run("provider", "list", "--forbidden", "HW_CPU_X86_AVX2", "-f", "json")) == ["cn1", "cn1-gpu"]
    assert _names(run("provider", "list", "--required", "HW_CPU_X86_AVX2,HW_CPU_X86_SSE", "-f", "json")) == ["cn2"]
    assert _names(run("provider", "list", "--member-of", AGG, "-f", "json")) == ["cn1"]
    assert _names(run("provider", "list", "--member-of", f"{AGG},{MISSING}", "--resource", "VCPU=2",
                      "-f", "json")) == ["cn1"]


def test_list_formats_and_columns(run: Run, placement: PlacementClient) -> None:
    placement.create_provider("cn1", uuid=U1)
    assert ok(run("provider", "list", "-f", "value", "-c", "uuid", "-c", "name")).stdout == f"{U1} cn1\n"
    table = ok(run("provider", "list")).stdout
    assert "root_provider_uuid" in table and "cn1" in table and U1 in table
    yaml_out = ok(run("provider", "list", "-f", "yaml", "-c", "name")).stdout
    assert yaml_out == "- name: cn1\n"
    # An unknown column is a usage error, before anything is asked of placement.
    stderr = failed(run("provider", "list", "-c", "colour"), code=2)
    assert "no column colour" in stderr


def test_old_microversion_has_no_tree_fields(run: Run, placement: PlacementClient) -> None:
    placement.create_provider("cn1", uuid=U1)
    assert ok_json(run("--microversion", "1.10", "provider", "list", "-f", "json")) == [
        {"uuid": U1, "name": "cn1", "generation": 0}
    ]
    # Before 1.20 creation returns no body; the command still shows the new provider.
    made = ok_json(run("--microversion", "1.10", "provider", "create", "old", "--uuid", U2, "-f", "json"))
    assert made == {"uuid": U2, "name": "old", "generation": 0}
    # The environment variable works like the option.
    listed = ok_json(run("provider", "list", "-f", "json", env={"OS_PLACEMENT_API_VERSION": "1.10"}))
    assert set(listed[0]) == {"uuid", "name", "generation"}


def test_errors_carry_the_placement_code(run: Run, placement: PlacementClient) -> None:
    stderr = failed(run("provider", "show", MISSING))
    assert stderr.startswith("error: ") and MISSING in stderr and "(placement.undefined_code)" in stderr
    failed(run("provider", "delete", MISSING))
    placement.create_provider("cn1", uuid=U1)
    stderr = failed(run("provider", "create", "cn1"))
    assert "(placement.duplicate_name)" in stderr
    placement.create_provider("child", parent_uuid=U1)
    stderr = failed(run("provider", "delete", U1))
    assert "(placement.resource_provider.cannot_delete_parent)" in stderr
    # A malformed uuid is placement's 400, still a clean error.
    assert "error:" in failed(run("provider", "list", "--uuid", "not-a-uuid"))


def test_usage_errors(run: Run) -> None:
    assert "Missing option '--name'" in failed(run("provider", "set", U1), code=2)
    assert "RESOURCE_CLASS=AMOUNT" in failed(run("provider", "list", "--resource", "VCPU"), code=2)
    assert "not a microversion" in failed(run("--microversion", "one", "provider", "list"), code=2)


def test_database_option_from_environment(db_url: str, placement: PlacementClient) -> None:
    placement.create_provider("cn1", uuid=U1)
    listed = ok_json(invoke(["provider", "list", "-f", "json"], env={"ALLOTMENT_DB": db_url}))
    assert [p["uuid"] for p in listed] == [U1]


def test_bad_database_url_is_named(tmp_path: object) -> None:
    stderr = failed(invoke(["--db", "nosuchdialect://x/y", "class", "list"]))
    assert stderr.startswith("error: cannot open placement on database nosuchdialect://x/y")
