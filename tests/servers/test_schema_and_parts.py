"""The srv_ schema (Alembic) beside placement's and the registry's, inventory files, the fake driver, and cells."""

from __future__ import annotations

from pathlib import Path

import pytest
import sqlalchemy as sa
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext

from allotment.client import Inventory
from allotment.servers.compute import BuildFailed, FakeDriver, HostInventory, load_inventory
from allotment.servers.compute.inventory import InventoryError
from allotment.servers.store import ServerStore
from allotment.servers.store.tables import metadata
from tests.servers.harness import open_harness


def test_migrated_schema_matches_the_tables_and_shares_the_database(db_url: str) -> None:
    with open_harness(db_url):  # placement, the registry and the servers' records in one database
        pass
    with ServerStore.open(db_url) as store:  # a second upgrade: nothing to do
        with store.db.engine.connect() as conn:
            diffs = compare_metadata(MigrationContext.configure(conn, opts={"version_table": "srv_alembic_version"}),
                                     metadata)
            assert [d for d in diffs if "srv_" in repr(d)] == []
            assert conn.execute(sa.text("SELECT version_num FROM srv_alembic_version")).scalar() == "srv_0001"
        names = set(sa.inspect(store.db.engine).get_table_names())
    assert {"srv_instances", "srv_build_requests", "srv_migrations", "srv_actions", "srv_faults",
            "sched_hosts", "resource_providers"} <= names


def test_inventory_file_with_device_children(tmp_path: Path) -> None:
    path = tmp_path / "cn1.yaml"
    path.write_text("VCPU: 16\nMEMORY_MB: {total: 32768, reserved: 512}\nDISK_GB: 500\n"
                    "children:\n  - name: gpu0\n    resources: {VGPU: 4}\n    traits: [CUSTOM_A100]\n")
    inventory = load_inventory(path)
    assert inventory.resources["MEMORY_MB"] == Inventory(total=32768, reserved=512)
    tree = inventory.provider_tree("cn1")
    providers = {p.name: p for p in tree}
    assert set(providers) == {"cn1", "cn1_gpu0"}
    assert providers["cn1_gpu0"].parent_uuid == providers["cn1"].uuid
    assert providers["cn1_gpu0"].traits == {"CUSTOM_A100"}
    assert inventory.provider_tree("cn1").roots()[0].uuid == providers["cn1"].uuid  # stable across restarts


@pytest.mark.parametrize("text, word", [
    ("VCPU: 4\nMEMORY_MB: 10\n", "DISK_GB"),
    ("VCPU: 0\nMEMORY_MB: 10\nDISK_GB: 1\n", "positive"),
    ("VCPU: {total: 4, color: red}\nMEMORY_MB: 10\nDISK_GB: 1\n", "color"),
    ("- 1\n", "mapping"),
    ("VCPU: 4\nMEMORY_MB: 10\nDISK_GB: 1\nchildren: [{resources: {VGPU: 1}}]\n", "name"),
])
def test_bad_inventory_files_name_the_entry(tmp_path: Path, text: str, word: str) -> None:
    path = tmp_path / "bad.yaml"
    path.write_text(text)
    with pytest.raises(InventoryError, match=word):
        load_inventory(path)


def test_fake_driver_failure_rate_and_spawn_time() -> None:
    assert FakeDriver(failure_rate=0.0).spawn("a", {}, {}) is None
    with pytest.raises(BuildFailed):
        FakeDriver(failure_rate=1.0).spawn("a", {}, {})
    driver = FakeDriver(failure_rate=0.5, seed=7)
    outcomes = []
    for i in range(200):
        try:
            driver.spawn(str(i), {}, {})
            outcomes.append(True)
        except BuildFailed:
            outcomes.append(False)
    assert 60 < outcomes.count(False) < 140
    assert len(driver.list_instances()) == outcomes.count(True)
    with pytest.raises(ValueError):
        FakeDriver(failure_rate=2)


def test_alternates_stay_in_the_chosen_hosts_cell_and_listing_spans_cells(db_url: str) -> None:
    with open_harness(db_url) as h:
        cloud = h.cloud
        cloud.add_compute("cn1", HostInventory.simple(memory_mb=8192), cell="east", driver=FakeDriver(failure_rate=1))
        cloud.add_compute("cn2", HostInventory.simple(memory_mb=4096), cell="east")
        cloud.add_compute("cn3", HostInventory.simple(memory_mb=6144), cell="west")
        uuid = h.create("web")["server"]["id"]
        server = h.wait_for(uuid, "ACTIVE")
        assert (server["host"], server["cell"]) == ("cn2", "east")  # cn3 has more room but is in another cell
        west = h.create("west", availability_zone="nova:cn3")["server"]["id"]
        assert h.wait_for(west, "ACTIVE")["cell"] == "west"
        cells = {s["id"]: s["cell"] for s in h.http.get("/servers").json()["servers"]}
        assert cells == {uuid: "east", west: "west"}
        assert [s["id"] for s in h.http.get("/servers", params={"cell": "east"}).json()["servers"]] == [uuid]
        h.check_usages()
