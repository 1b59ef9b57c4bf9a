"""``allotment inventory list|set|delete``."""

from __future__ import annotations

from allotment.client import Allocations, Inventory, PlacementClient
from tests.cli._support import failed, ok, ok_json
from tests.cli.conftest import Run

U1 = "11111111-1111-4111-8111-111111111111"
CONSUMER = "33333333-3333-4333-8333-333333333333"


def test_set_replaces_with_osc_syntax(run: Run, placement: PlacementClient) -> None:
    placement.create_provider("cn1", uuid=U1)
    rows = ok_json(run("inventory", "set", U1, "--resource", "VCPU=8", "--resource", "VCPU:allocation_ratio=4",
                       "--resource", "MEMORY_MB=4096", "--resource", "MEMORY_MB:max_unit=1024",
                       "--resource", "MEMORY_MB:reserved=512", "-f", "json"))
    assert {r["resource_class"]: (r["total"], r["allocation_ratio"], r["max_unit"], r["reserved"]) for r in rows} == {
        "VCPU": (8, 4.0, 2147483647, 0), "MEMORY_MB": (4096, 1.0, 1024, 512),
    }
    _, stored = placement.get_inventories(U1)
    assert stored == {"VCPU": Inventory(total=8, allocation_ratio=4.0),
                      "MEMORY_MB": Inventory(total=4096, max_unit=1024, reserved=512)}
    # Without --amend the inventory is replaced as a whole.
    ok(run("inventory", "set", U1, "--resource", "DISK_GB=100"))
    assert set(placement.get_inventories(U1)[1]) == {"DISK_GB"}


def test_amend_keeps_the_rest(run: Run, placement: PlacementClient) -> None:
    rp = placement.create_provider("cn1", uuid=U1)
    placement.set_inventories(U1, rp.generation, {"VCPU": Inventory(total=8, allocation_ratio=2.0)})
    ok(run("inventory", "set", U1, "--amend", "--resource", "VCPU:reserved=1", "--resource", "DISK_GB=50"))
    _, stored = placement.get_inventories(U1)
    assert stored == {"VCPU": Inventory(total=8, reserved=1, allocation_ratio=2.0), "DISK_GB": Inventory(total=50)}


def test_dry_run_changes_nothing(run: Run, placement: PlacementClient) -> None:
    rp = placement.create_provider("cn1", uuid=U1)
    placement.set_inventories(U1, rp.generation, {"VCPU": Inventory(total=8)})
    out = ok(run("inventory", "set", U1, "--amend", "--dry-run", "--resource", "VCPU=64", "-f", "value",
                 "-c", "resource_class", "-c", "total")).stdout
    assert out == "VCPU 64\n"
    assert placement.get_inventories(U1)[1]["VCPU"].total == 8


def test_list_shows_usage(run: Run, placement: PlacementClient) -> None:
    rp = placement.create_provider("cn1", uuid=U1)
    placement.set_inventories(U1, rp.generation, {"VCPU": Inventory(total=8), "DISK_GB": Inventory(total=100)})
    placement.put_allocations(CONSUMER, Allocations({U1: {"VCPU": 3}}, "p", "u", None, "INSTANCE"))
    rows = ok_json(run("inventory", "list", U1, "-f", "json"))
    assert {r["resource_class"]: (r["total"], r["used"]) for r in rows} == {"VCPU": (8, 3), "DISK_GB": (100, 0)}
    assert list(rows[0]) == ["resource_class", "allocation_ratio", "min_unit", "max_unit", "reserved", "step_size",
                             "total", "used"]
    table = ok(run("inventory", "list", U1)).stdout
    assert "used" in table and "VCPU" in table


def test_delete_one_class_or_all(run: Run, placement: PlacementClient) -> None:
    rp = placement.create_provider("cn1", uuid=U1)
    placement.set_inventories(U1, rp.generation, {"VCPU": Inventory(total=8), "DISK_GB": Inventory(total=100),
                                                  "MEMORY_MB": Inventory(total=64)})
    ok(run("inventory", "delete", U1, "--resource-class", "DISK_GB"))
    assert set(placement.get_inventories(U1)[1]) == {"VCPU", "MEMORY_MB"}
    ok(run("inventory", "delete", U1))
    assert placement.get_inventories(U1)[1] == {}


def test_errors(run: Run, placement: PlacementClient) -> None:
    # Bad --resource syntax is a usage error: exit 2, nothing sent.
    for bad in ("VCPU", "VCPU:colour=1", "VCPU=many", "A:b:c=1"):
        assert "Invalid value for '--resource'" in failed(run("inventory", "set", U1, "--resource", bad), code=2)
    # Placement's refusals: exit 1 with the code.
    assert "error:" in failed(run("inventory", "list", U1))
    rp = placement.create_provider("cn1", uuid=U1)
    stderr = failed(run("inventory", "set", U1, "--resource", "VCPU=4", "--resource", "VCPU:reserved=5"))
    assert "reserved" in stderr and "(placement.undefined_code)" in stderr
    stderr = failed(run("inventory", "set", U1, "--resource", "CUSTOM_NOPE=4"))
    assert "CUSTOM_NOPE" in stderr
    placement.set_inventories(U1, rp.generation, {"VCPU": Inventory(total=8)})
    placement.put_allocations(CONSUMER, Allocations({U1: {"VCPU": 3}}, "p", "u", None, "INSTANCE"))
    stderr = failed(run("inventory", "delete", U1, "--resource-class", "VCPU"))
    # Upstream answers this with the concurrent-update code, and so does allotment.
    assert "in use" in stderr and "(placement.concurrent_update)" in stderr
    # A class-less field is allowed only with --amend (the total is missing otherwise).
    assert "error:" in failed(run("inventory", "set", U1, "--resource", "DISK_GB:reserved=1"))
