"""Host and instance operations of the Registry, on every backend."""

from __future__ import annotations

import datetime as dt

import pytest
import sqlalchemy as sa

from allotment.scheduler.registry import Conflict, InvalidInput, NotFound, Registry
from allotment.scheduler.registry.tables import hosts as hosts_table
from tests.scheduler.registry.conftest import new_uuid

FACTS = {
    "cell": "cell1",
    "hypervisor_type": "QEMU",
    "hypervisor_version": 8002000,
    "hypervisor_hostname": "c1.example.org",
    "host_ip": "192.0.2.10",
    "cpu_info": {"arch": "x86_64", "features": ["avx2", "sse4.2"]},
    "supported_instances": [["x86_64", "qemu", "hvm"], ["i686", "qemu", "hvm"]],
    "stats": {"io_workload": "0"},
    "failed_builds": 2,
}


def test_register_stores_every_fact_and_counts_as_a_heartbeat(registry: Registry) -> None:
    rp = new_uuid()
    host, created = registry.register_host("c1", rp, FACTS)
    assert created
    assert host.provider_uuid == rp
    for key, value in FACTS.items():
        got = getattr(host, key)
        assert (got if key != "supported_instances" else [list(t) for t in got]) == value
    assert host.up and not host.disabled and not host.forced_down
    assert host.last_heartbeat is not None


def test_register_again_updates_only_the_facts_given(registry: Registry) -> None:
    rp = new_uuid()
    registry.register_host("c1", rp, FACTS)
    host, created = registry.register_host("c1", rp, {"hypervisor_version": 9000000, "cell": None})
    assert not created
    assert host.hypervisor_version == 9000000
    assert host.cell is None
    assert host.hypervisor_type == "QEMU"  # left out: kept
    assert host.updated_at is not None
    assert len(registry.list_hosts()) == 1


def test_a_provider_is_the_root_of_one_host_only(registry: Registry) -> None:
    rp = new_uuid()
    registry.register_host("c1", rp)
    with pytest.raises(Conflict) as exc:
        registry.register_host("c2", rp)
    assert exc.value.code == "scheduler.host.provider_in_use"
    assert "c1" in exc.value.detail
    assert [h.name for h in registry.list_hosts()] == ["c1"]


def test_moving_a_host_to_a_new_root_provider(registry: Registry) -> None:
    registry.register_host("c1", new_uuid())
    rp2 = new_uuid()
    assert registry.register_host("c1", rp2)[0].provider_uuid == rp2


@pytest.mark.parametrize("facts, fragment", [
    ({"hypervisor_version": -1}, "hypervisor_version"),
    ({"hypervisor_version": True}, "hypervisor_version"),
    ({"failed_builds": "3"}, "failed_builds"),
    ({"stats": {"a": 1}}, "stats"),
    ({"supported_instances": [["x86_64", "qemu"]]}, "supported_instances"),
    ({"cpu_info": []}, "cpu_info"),
    ({"cell": "a\x00b"}, "cell"),
    ({"cell": "x" * 256}, "cell"),
    ({"colour": "blue"}, "colour"),
])
def test_bad_facts_are_refused_and_nothing_is_written(registry: Registry, facts: dict, fragment: str) -> None:
    with pytest.raises(InvalidInput) as exc:
        registry.register_host("c1", new_uuid(), facts)
    assert fragment in exc.value.detail
    assert registry.list_hosts() == []


@pytest.mark.parametrize("name", ["", "   ", "a/b", "tab\there", "x" * 256])
def test_bad_host_names(registry: Registry, name: str) -> None:
    with pytest.raises(InvalidInput):
        registry.register_host(name, new_uuid())


def test_bad_provider_uuid(registry: Registry) -> None:
    with pytest.raises(InvalidInput, match="not a valid UUID"):
        registry.register_host("c1", "not-a-uuid")


def test_heartbeat_moves_last_heartbeat_and_brings_a_host_up(registry: Registry) -> None:
    registry.register_host("c1", new_uuid())
    old = dt.datetime(2000, 1, 1)
    registry.db.write(lambda c: c.execute(sa.update(hosts_table).values(last_heartbeat=old)))
    assert not registry.get_host("c1").up
    stamp = registry.heartbeat("c1")
    host = registry.get_host("c1")
    assert host.up
    assert host.last_heartbeat == stamp > old


def test_heartbeat_of_an_unknown_host(registry: Registry) -> None:
    with pytest.raises(NotFound) as exc:
        registry.heartbeat("ghost")
    assert exc.value.code == "scheduler.host.not_found"


def test_status_disable_enable_force_down(registry: Registry) -> None:
    registry.register_host("c1", new_uuid())
    host = registry.set_host_status("c1", disabled=True, disabled_reason="hardware check")
    assert host.disabled and host.disabled_reason == "hardware check" and host.up
    host = registry.set_host_status("c1", forced_down=True)
    assert host.forced_down and not host.up and host.disabled  # disabled untouched
    host = registry.set_host_status("c1", disabled=False, forced_down=False)
    assert not host.disabled and host.disabled_reason is None and host.up


def test_status_needs_something_to_change(registry: Registry) -> None:
    registry.register_host("c1", new_uuid())
    with pytest.raises(InvalidInput, match="nothing to change"):
        registry.set_host_status("c1")
    with pytest.raises(InvalidInput, match="enabling"):
        registry.set_host_status("c1", disabled=False, disabled_reason="why")
    with pytest.raises(NotFound):
        registry.set_host_status("ghost", disabled=True)


def test_list_by_cell_sorted_by_name(registry: Registry) -> None:
    for name, cell in (("b", "cell1"), ("a", "cell1"), ("c", "cell2")):
        registry.register_host(name, new_uuid(), {"cell": cell})
    assert [h.name for h in registry.list_hosts()] == ["a", "b", "c"]
    assert [h.name for h in registry.list_hosts(cell="cell1")] == ["a", "b"]


def test_delete_host_refused_while_instances_remain(registry: Registry) -> None:
    registry.register_host("c1", new_uuid())
    agg = registry.create_aggregate("agg")
    registry.add_aggregate_host(agg.uuid, "c1")
    inst = new_uuid()
    registry.record_instance(inst, "c1", vcpus=1)
    with pytest.raises(Conflict) as exc:
        registry.delete_host("c1")
    assert exc.value.code == "scheduler.host.in_use"
    registry.remove_instance(inst)
    registry.delete_host("c1")
    assert registry.list_hosts() == []
    assert registry.get_aggregate(agg.uuid).hosts == []
    with pytest.raises(NotFound):
        registry.delete_host("c1")


# ---- instances -----------------------------------------------------------------------------


def test_record_instance_then_update_task_state_and_move(registry: Registry) -> None:
    registry.register_host("c1", new_uuid())
    registry.register_host("c2", new_uuid())
    inst = new_uuid()
    got, created = registry.record_instance(inst, "c1", flavor_name="m1.small", vcpus=2, memory_mb=2048, root_gb=20,
                                            project_id="p1", image_id="img", task_state="spawning")
    assert created and got.host == "c1" and got.vcpus == 2 and got.task_state == "spawning"
    got = registry.set_task_state(inst, None)
    assert got.task_state is None and got.flavor_name == "m1.small"
    got = registry.move_instance(inst, "c2")
    assert got.host == "c2" and got.memory_mb == 2048
    assert [i.uuid for i in registry.list_instances(host="c2")] == [inst]
    assert registry.list_instances(host="c1") == []


def test_record_instance_errors(registry: Registry) -> None:
    registry.register_host("c1", new_uuid())
    with pytest.raises(NotFound):
        registry.record_instance(new_uuid(), "ghost")
    with pytest.raises(InvalidInput, match="host is required"):
        registry.record_instance(new_uuid(), None, vcpus=1)
    with pytest.raises(InvalidInput, match="vcpus"):
        registry.record_instance(new_uuid(), "c1", vcpus=-1)
    with pytest.raises(InvalidInput, match="colour"):
        registry.record_instance(new_uuid(), "c1", colour="red")
    with pytest.raises(InvalidInput, match="UUID"):
        registry.record_instance("nope", "c1")
    assert registry.list_instances() == []
    with pytest.raises(NotFound):
        registry.remove_instance(new_uuid())
    with pytest.raises(NotFound):
        registry.get_instance(new_uuid())
