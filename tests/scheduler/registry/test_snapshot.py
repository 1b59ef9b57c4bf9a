"""HostStates from the per-process snapshot: contents, fresh copies, and refresh from other writers."""

from __future__ import annotations

import datetime as dt

import pytest
import sqlalchemy as sa

from allotment.infra.database import Database
from allotment.scheduler.host_state import InstanceInfo
from allotment.scheduler.registry import Registry, changes
from allotment.scheduler.registry.tables import changes as change_log
from allotment.scheduler.registry.tables import hosts as hosts_table
from tests.scheduler.registry.conftest import new_uuid
from tests.scheduler.topology.helpers import cell, host


@pytest.fixture
def other(registry_db: Database, registry: Registry) -> Registry:
    """A second Registry on the same database: another scheduler process's view."""
    return Registry(registry_db, service_down_time=60, heartbeat_refresh=0)


def test_host_state_carries_the_registry_facts(registry: Registry) -> None:
    rp = new_uuid()
    registry.register_host("c1", rp, {
        "cell": "cell1", "hypervisor_type": "QEMU", "hypervisor_version": 8002000, "hypervisor_hostname": "node1",
        "host_ip": "192.0.2.1", "cpu_info": {"arch": "x86_64"}, "supported_instances": [["x86_64", "qemu", "hvm"]],
        "stats": {"k": "v"}, "failed_builds": 3})
    registry.set_host_status("c1", disabled=True, disabled_reason="maintenance")
    agg = registry.create_aggregate("az1", metadata={"availability_zone": "az1"})
    registry.add_aggregate_host(agg.uuid, "c1")
    inst = new_uuid()
    registry.record_instance(inst, "c1", flavor_name="m1", vcpus=2, memory_mb=512, root_gb=1, project_id="p",
                             image_id="i", task_state="spawning")
    hs = registry.host_states([rp])[rp]
    assert (hs.host, hs.nodename, hs.uuid, hs.cell) == ("c1", "node1", rp, "cell1")
    assert (hs.hypervisor_type, hs.hypervisor_version, hs.hypervisor_hostname, hs.host_ip) == (
        "QEMU", 8002000, "node1", "192.0.2.1")
    assert hs.cpu_info == {"arch": "x86_64"}
    assert hs.supported_instances == [("x86_64", "qemu", "hvm")]
    assert hs.stats == {"k": "v"} and hs.failed_builds == 3
    assert hs.service.up and hs.service.disabled and hs.service.disabled_reason == "maintenance"
    assert [(a.uuid, a.name, a.metadata) for a in hs.aggregates] == [(agg.uuid, "az1", {"availability_zone": "az1"})]
    assert hs.instances == {inst: InstanceInfo(inst, "m1", 2, 512, 1, "p", "i", "spawning")}
    assert hs.num_instances == 1 and hs.num_io_ops == 1
    assert hs.allocation_candidates == [] and hs.limits == {} and hs.weight == 0.0


def test_only_registered_roots_are_returned_and_none_means_all(registry: Registry) -> None:
    rps = [new_uuid() for _ in range(3)]
    for i, rp in enumerate(rps):
        registry.register_host(f"c{i}", rp)
    assert set(registry.host_states([rps[0], new_uuid(), rps[2]])) == {rps[0], rps[2]}
    assert set(registry.host_states()) == set(rps)
    assert registry.root_of("c1") == rps[1] and registry.root_of("ghost") is None


def test_service_up_follows_heartbeat_and_forced_down(registry: Registry) -> None:
    rp = new_uuid()
    registry.register_host("c1", rp)
    assert registry.host_states([rp])[rp].service.up
    stale = dt.datetime.now(dt.UTC).replace(tzinfo=None) - dt.timedelta(seconds=61)
    registry.db.write(lambda c: c.execute(sa.update(hosts_table).values(last_heartbeat=stale)))
    assert not registry.host_states([rp])[rp].service.up  # heartbeats are re-read (heartbeat_refresh=0)
    registry.heartbeat("c1")
    assert registry.host_states([rp])[rp].service.up
    registry.set_host_status("c1", forced_down=True)
    state = registry.host_states([rp])[rp].service
    assert not state.up and state.forced_down


def test_heartbeats_are_reread_only_on_their_timer(registry_db: Database, registry: Registry) -> None:
    rp = new_uuid()
    registry.register_host("c1", rp)
    slow = Registry(registry_db, heartbeat_refresh=3600)
    assert slow.host_states([rp])[rp].service.up
    stale = dt.datetime(2000, 1, 1)
    registry.db.write(lambda c: c.execute(sa.update(hosts_table).values(last_heartbeat=stale)))
    assert slow.host_states([rp])[rp].service.up  # not re-read yet: one query per call stays cheap
    slow.snapshot._next_heartbeats = 0.0  # the timer runs out
    assert not slow.host_states([rp])[rp].service.up


def test_host_states_are_fresh_copies(registry: Registry) -> None:
    rp = new_uuid()
    registry.register_host("c1", rp, {"cpu_info": {"arch": "x86_64"}, "stats": {"a": "b"},
                                      "supported_instances": [["x86_64", "qemu", "hvm"]]})
    agg = registry.create_aggregate("a", metadata={"k": "v"})
    registry.add_aggregate_host(agg.uuid, "c1")
    first = registry.host_states([rp])[rp]
    first.consume(InstanceInfo(new_uuid(), vcpus=1), {"VCPU": 1, "MEMORY_MB": 64})
    first.service.up = False
    first.cpu_info["arch"] = "ppc64"
    first.stats.clear()
    first.supported_instances.clear()
    first.aggregates[0].metadata["k"] = "changed"
    first.aggregates.clear()
    first.allocation_candidates.append({"x": 1})
    first.limits["a"] = 1
    first.failed_builds = 99
    again = registry.host_states([rp])[rp]
    assert again is not first
    assert again.instances == {} and again.vcpus_used == 0 and again.free_ram_mb == 0
    assert again.service.up and again.cpu_info == {"arch": "x86_64"} and again.stats == {"a": "b"}
    assert again.supported_instances == [("x86_64", "qemu", "hvm")]
    assert [a.metadata for a in again.aggregates] == [{"k": "v"}]
    assert again.allocation_candidates == [] and again.limits == {} and again.failed_builds == 0
    assert registry.all_aggregates()[0].metadata == {"k": "v"}


def test_writes_by_another_registry_are_seen(registry: Registry, other: Registry) -> None:
    rp = new_uuid()
    assert registry.host_states() == {}
    other.register_host("c1", rp)
    assert set(registry.host_states()) == {rp}
    inst = new_uuid()
    other.record_instance(inst, "c1", vcpus=4)
    assert registry.host_states([rp])[rp].instances[inst].vcpus == 4
    other.set_task_state(inst, "resize_migrating")
    assert registry.host_states([rp])[rp].num_io_ops == 1
    agg = other.create_aggregate("a", metadata={"availability_zone": "az1"})
    other.add_aggregate_host(agg.uuid, "c1")
    assert [a.name for a in registry.host_states([rp])[rp].aggregates] == ["a"]
    other.set_aggregate_metadata(agg.uuid, {"availability_zone": "az2"})
    assert registry.host_states([rp])[rp].aggregates[0].metadata == {"availability_zone": "az2"}
    assert [a.metadata for a in registry.all_aggregates()] == [{"availability_zone": "az2"}]
    other.remove_aggregate_host(agg.uuid, "c1")
    assert registry.host_states([rp])[rp].aggregates == []
    other.set_host_status("c1", disabled=True)
    assert registry.host_states([rp])[rp].service.disabled
    other.remove_instance(inst)
    other.delete_host("c1")
    assert registry.host_states() == {}
    assert registry.root_of("c1") is None
    assert registry.snapshot.full_loads == 1  # every change above was a partial reload


def test_nothing_changed_costs_no_reload(registry: Registry, other: Registry) -> None:
    rp = new_uuid()
    registry.register_host("c1", rp)
    registry.host_states()
    loads = (registry.snapshot.full_loads, registry.snapshot.partial_loads)
    for _ in range(5):
        registry.host_states([rp])
    other.heartbeat("c1")  # heartbeats are not changes
    registry.host_states([rp])
    assert (registry.snapshot.full_loads, registry.snapshot.partial_loads) == loads
    other.register_host("c2", new_uuid())
    registry.host_states([rp])
    assert registry.snapshot.partial_loads == loads[1] + 1


def test_moving_an_instance_updates_both_hosts(registry: Registry, other: Registry) -> None:
    rp1, rp2 = new_uuid(), new_uuid()
    other.register_host("c1", rp1)
    other.register_host("c2", rp2)
    inst = new_uuid()
    other.record_instance(inst, "c1")
    states = registry.host_states()
    assert inst in states[rp1].instances and inst not in states[rp2].instances
    other.move_instance(inst, "c2")
    states = registry.host_states()
    assert inst not in states[rp1].instances and inst in states[rp2].instances


def test_a_wipe_or_a_pruned_log_means_a_full_reload(registry: Registry, other: Registry,
                                                     monkeypatch: pytest.MonkeyPatch) -> None:
    other.register_host("c1", new_uuid())
    registry.host_states()
    full = registry.snapshot.full_loads
    other.wipe()
    assert registry.host_states() == {}
    assert registry.snapshot.full_loads == full + 1
    # A reader further behind than the log reaches must not miss the entries pruned away.
    monkeypatch.setattr(changes, "PRUNE_EVERY", 1)
    monkeypatch.setattr(changes, "KEEP_GENERATIONS", 2)
    rps = [new_uuid() for _ in range(5)]
    for i, rp in enumerate(rps):
        other.register_host(f"h{i}", rp)
    with registry.db.read() as conn:
        oldest = conn.execute(sa.select(sa.func.min(change_log.c.generation))).scalar()
    assert oldest > registry.snapshot.generation + 1
    assert set(registry.host_states()) == set(rps)
    assert registry.snapshot.full_loads == full + 2


def test_all_aggregates_sorted_by_name(registry: Registry) -> None:
    registry.create_aggregate("b", metadata={"filter_tenant_id": "t1"})
    registry.create_aggregate("a")
    assert [(a.name, a.metadata) for a in registry.all_aggregates()] == [("a", {}), ("b", {"filter_tenant_id": "t1"})]


def test_a_full_load_takes_the_snapshot_out_of_the_collectors_generations(registry: Registry) -> None:
    # Full collections rescanning a 10,000-host snapshot landed on scheduling requests (p90 x3).
    import gc

    for i in range(20):
        registry.register_host(f"c{i}", new_uuid())
    gc.unfreeze()
    registry.snapshot.loaded = False  # the next read is a full load, as in a new process
    registry.host_states()
    assert gc.get_freeze_count() > 0
    gc.unfreeze()


def test_own_instance_writes_are_taken_in_without_a_reload(registry: Registry) -> None:
    rp1, rp2 = new_uuid(), new_uuid()
    registry.register_host("c1", rp1)
    registry.register_host("c2", rp2)
    registry.host_states()
    loads = (registry.snapshot.full_loads, registry.snapshot.partial_loads)
    a, b = new_uuid(), new_uuid()
    assert registry.put_instance(a, "c1", flavor_name="m1", vcpus=2, memory_mb=512, root_gb=1, project_id="p",
                                 image_id="i", task_state="scheduling")
    assert registry.put_instance(b, "c1", vcpus=1)
    assert not registry.put_instance(a, None, task_state="spawning")
    registry.move_instance(b, "c2")
    states = registry.host_states()
    assert (registry.snapshot.full_loads, registry.snapshot.partial_loads) == loads
    # What a snapshot read from the database holds.
    fresh = Registry(registry.db, service_down_time=60, heartbeat_refresh=0).host_states()
    assert states[rp1].instances == fresh[rp1].instances and set(states[rp1].instances) == {a}
    assert states[rp2].instances == fresh[rp2].instances and set(states[rp2].instances) == {b}
    assert states[rp1].instances[a] == InstanceInfo(a, flavor_name="m1", vcpus=2, memory_mb=512, root_gb=1,
                                                    project_id="p", image_id="i", task_state="spawning")
    assert states[rp1].num_io_ops == 1


def test_an_own_write_after_another_writers_is_read_from_the_log(registry: Registry, other: Registry) -> None:
    rp = new_uuid()
    registry.register_host("c1", rp)
    registry.host_states()
    theirs, ours = new_uuid(), new_uuid()
    other.record_instance(theirs, "c1")  # this snapshot is now one generation behind
    registry.put_instance(ours, "c1")  # so it cannot take this write in by itself
    partial = registry.snapshot.partial_loads
    assert set(registry.host_states([rp])[rp].instances) == {theirs, ours}
    assert registry.snapshot.partial_loads == partial + 1


def test_a_topology_set_between_two_requests_is_seen_fresh(registry: Registry, other: Registry) -> None:
    # The snapshot keeps the topology and its usage in each host's HostState template: a
    # reload must replace them there, not only on the host record.
    rp = new_uuid()
    registry.register_host("c1", rp, {})
    assert registry.host_states([rp])[rp].numa_topology is None
    first = host(cell(0, cpus=[0, 1], memory=1024))
    other.set_topology("c1", first)
    seen = registry.host_states([rp])[rp]
    assert seen.numa_topology == first and seen.numa_usage is not None
    second = host(cell(0, cpus=[0, 1, 2, 3], memory=2048))
    other.set_topology("c1", second)
    assert registry.host_states([rp])[rp].numa_topology == second
