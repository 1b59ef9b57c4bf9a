"""``allotment allocation show|set|delete`` and ``allotment usage show``."""

from __future__ import annotations

import pytest

from allotment.client import Inventory, PlacementClient
from tests.cli._support import failed, ok, ok_json
from tests.cli.conftest import Run

CN1 = "11111111-1111-4111-8111-111111111111"
POOL = "22222222-2222-4222-8222-222222222222"
VM = "33333333-3333-4333-8333-333333333333"
VM2 = "44444444-4444-4444-8444-444444444444"


@pytest.fixture
def hosts(placement: PlacementClient) -> PlacementClient:
    cn1 = placement.create_provider("cn1", uuid=CN1)
    placement.set_inventories(CN1, cn1.generation, {"VCPU": Inventory(total=8), "MEMORY_MB": Inventory(total=4096)})
    pool = placement.create_provider("pool", uuid=POOL)
    placement.set_inventories(POOL, pool.generation, {"DISK_GB": Inventory(total=1000)})
    return placement


def test_set_show_delete(run: Run, hosts: PlacementClient) -> None:
    rows = ok_json(run("allocation", "set", VM, "--allocation", f"rp={CN1},VCPU=2,MEMORY_MB=512",
                       "--allocation", f"rp={POOL},DISK_GB=20", "--project-id", "proj", "--user-id", "alice",
                       "--consumer-type", "INSTANCE", "-f", "json"))
    by_rp = {r["resource_provider"]: r for r in rows}
    assert by_rp[CN1]["resources"] == {"VCPU": 2, "MEMORY_MB": 512}
    assert by_rp[POOL]["resources"] == {"DISK_GB": 20}
    assert {(r["project_id"], r["user_id"], r["consumer_type"]) for r in rows} == {("proj", "alice", "INSTANCE")}
    assert hosts.get_allocations(VM).allocations == {CN1: {"VCPU": 2, "MEMORY_MB": 512}, POOL: {"DISK_GB": 20}}

    assert ok_json(run("allocation", "show", VM, "-f", "json")) == rows
    table = ok(run("allocation", "show", VM)).stdout
    assert "VCPU=2, MEMORY_MB=512" in table and "consumer_type" in table
    value = ok(run("allocation", "show", VM, "-f", "value", "-c", "resource_provider", "-c", "resources")).stdout
    assert sorted(value.splitlines()) == sorted([f"{CN1} VCPU=2, MEMORY_MB=512", f"{POOL} DISK_GB=20"])

    # A second set replaces everything and keeps the consumer's type when none is given.
    ok(run("allocation", "set", VM, "--allocation", f"rp={CN1},VCPU=1", "--project-id", "proj", "--user-id", "alice"))
    after = hosts.get_allocations(VM)
    assert after.allocations == {CN1: {"VCPU": 1}} and after.consumer_type == "INSTANCE"

    ok(run("allocation", "delete", VM))
    assert hosts.get_allocations(VM).allocations == {}
    assert ok_json(run("allocation", "show", VM, "-f", "json")) == []


def test_set_errors(run: Run, hosts: PlacementClient) -> None:
    base = ("--project-id", "p", "--user-id", "u", "--consumer-type", "INSTANCE")
    # Capacity is placement's to refuse: exit 1 with the code.
    stderr = failed(run("allocation", "set", VM, "--allocation", f"rp={CN1},VCPU=9", *base))
    assert stderr.startswith("error:") and "(placement.undefined_code)" in stderr
    stderr = failed(run("allocation", "set", VM, "--allocation", f"rp={CN1},DISK_GB=1", *base))
    assert "DISK_GB" in stderr
    # Bad syntax and missing options are usage errors.
    assert "names no provider" in failed(run("allocation", "set", VM, "--allocation", "VCPU=1", *base), code=2)
    assert "at least one --allocation" in failed(run("allocation", "set", VM, *base), code=2)
    assert "--project-id and --user-id" in failed(
        run("allocation", "set", VM, "--allocation", f"rp={CN1},VCPU=1", "--consumer-type", "INSTANCE"), code=2)
    assert "--consumer-type is required" in failed(
        run("allocation", "set", VM, "--allocation", f"rp={CN1},VCPU=1", "--project-id", "p", "--user-id", "u"), code=2)
    assert hosts.get_allocations(VM).allocations == {}


def test_older_microversions(run: Run, hosts: PlacementClient) -> None:
    # 1.12: no consumer type, no consumer generation.
    rows = ok_json(run("--microversion", "1.12", "allocation", "set", VM, "--allocation", f"rp={CN1},VCPU=2",
                       "--project-id", "p", "--user-id", "u", "-f", "json"))
    assert [set(r) for r in rows] == [{"resource_provider", "generation", "resources", "project_id", "user_id"}]
    # 1.10: the list form of the body, and no project or user in the output.
    rows = ok_json(run("--microversion", "1.10", "allocation", "set", VM2, "--allocation", f"rp={CN1},VCPU=1",
                       "--project-id", "p", "--user-id", "u", "-f", "json"))
    assert rows == [{"resource_provider": CN1, "generation": rows[0]["generation"], "resources": {"VCPU": 1}}]
    assert hosts.get_allocations(VM2).project_id == "p"


def test_usage_show(run: Run, hosts: PlacementClient) -> None:
    base = ("--consumer-type", "INSTANCE")
    ok(run("allocation", "set", VM, "--allocation", f"rp={CN1},VCPU=2,MEMORY_MB=512", "--allocation",
           f"rp={POOL},DISK_GB=20", "--project-id", "proj", "--user-id", "alice", *base))
    ok(run("allocation", "set", VM2, "--allocation", f"rp={CN1},VCPU=1", "--project-id", "proj", "--user-id", "bob",
           "--consumer-type", "MIGRATION"))

    rows = ok_json(run("usage", "show", "--project-id", "proj", "-f", "json"))
    assert rows == [
        {"consumer_type": "INSTANCE", "consumer_count": 1, "resource_class": "DISK_GB", "usage": 20},
        {"consumer_type": "INSTANCE", "consumer_count": 1, "resource_class": "MEMORY_MB", "usage": 512},
        {"consumer_type": "INSTANCE", "consumer_count": 1, "resource_class": "VCPU", "usage": 2},
        {"consumer_type": "MIGRATION", "consumer_count": 1, "resource_class": "VCPU", "usage": 1},
    ]
    rows = ok_json(run("usage", "show", "--project-id", "proj", "--user-id", "bob", "-f", "json"))
    assert [(r["resource_class"], r["usage"]) for r in rows] == [("VCPU", 1)]
    rows = ok_json(run("usage", "show", "--project-id", "proj", "--consumer-type", "MIGRATION", "-f", "json"))
    assert [(r["consumer_type"], r["usage"]) for r in rows] == [("MIGRATION", 1)]
    # Before 1.38 the totals per class.
    assert ok_json(run("--microversion", "1.9", "usage", "show", "--project-id", "proj", "-f", "json")) == [
        {"resource_class": "DISK_GB", "usage": 20}, {"resource_class": "MEMORY_MB", "usage": 512},
        {"resource_class": "VCPU", "usage": 3},
    ]
    assert ok(run("usage", "show", "--provider", CN1, "-f", "value")).stdout == "MEMORY_MB 512\nVCPU 3\n"
    assert "resource_class" in ok(run("usage", "show", "--provider", POOL)).stdout

    assert "either --project-id or --provider" in failed(run("usage", "show"), code=2)
    assert "either --project-id or --provider" in failed(
        run("usage", "show", "--provider", CN1, "--project-id", "p"), code=2)
    assert "(placement.undefined_code)" in failed(run("usage", "show", "--provider", VM))
