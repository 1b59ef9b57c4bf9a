"""Moves against real placement and registry: source to the migration consumer, confirm, revert, failure.

Placement is read back after every step: what the instance and the migration hold, and each
host's usage. Server groups: a move keeps the policy (the destination is checked, the source
is held for a revert) and confirm/revert settle the membership.
"""

from __future__ import annotations

import uuid as uuidlib
from collections.abc import Iterator
from pathlib import Path

import pytest

from allotment.scheduler.errors import GroupPolicyViolation, MigrationNotFound, MoveError, NoValidHost
from allotment.scheduler.service import Scheduler
from allotment.scheduler.spec import InvalidRequestSpec
from tests.scheduler.fleet import Fleet, add_ram_graded_hosts, boot_spec, flavor, open_fleet

SMALL = flavor("small", vcpus=1, memory_mb=1024, root_gb=1)
LARGE = flavor("large", vcpus=2, memory_mb=2048, root_gb=2)


@pytest.fixture
def fleet(tmp_path: Path) -> Iterator[Fleet]:
    with open_fleet(tmp_path) as f:
        add_ram_graded_hosts(f)
        yield f


def boot(scheduler: Scheduler, **kwargs: object) -> str:
    result = scheduler.select_destinations(boot_spec(SMALL, **kwargs))  # type: ignore[arg-type]
    return result.instance_uuids[0]


def consumer(fleet: Fleet, uuid: str) -> dict[str, object]:
    return dict(fleet.placement.request("GET", f"/allocations/{uuid}", microversion="1.39"))


def test_a_move_hands_the_source_to_the_migration_and_claims_the_new_host(fleet: Fleet) -> None:
    scheduler = fleet.scheduler()
    instance = boot(scheduler)
    source = fleet.allocations(instance)
    migration = str(uuidlib.uuid4())

    result = scheduler.schedule_move(boot_spec(LARGE, instance_uuids=[instance]), migration_uuid=migration)

    assert result.hosts == ["b"]  # a is the source, excluded
    assert result.migration_uuid == migration and result.instance_uuids == [instance]
    assert fleet.allocations(migration) == source
    assert fleet.allocations(instance) == {fleet.roots["b"]: {"VCPU": 2, "MEMORY_MB": 2048, "DISK_GB": 2}}
    assert consumer(fleet, migration)["consumer_type"] == "MIGRATION"
    assert consumer(fleet, instance)["consumer_type"] == "INSTANCE"
    assert fleet.total_usage() == {"a": {"VCPU": 1, "MEMORY_MB": 1024, "DISK_GB": 1},
                                   "b": {"VCPU": 2, "MEMORY_MB": 2048, "DISK_GB": 2}, "c": {}}
    recorded = fleet.registry.get_instance(instance)
    assert (recorded.host, recorded.task_state) == ("a", "resize_migrating")  # until confirm


def test_confirm_frees_the_source_and_moves_the_record(fleet: Fleet) -> None:
    scheduler = fleet.scheduler()
    instance = boot(scheduler)
    migration = str(uuidlib.uuid4())
    scheduler.schedule_move(boot_spec(LARGE, instance_uuids=[instance]), migration_uuid=migration)

    scheduler.confirm_move(instance, migration)

    assert fleet.allocations(migration) == {}
    assert fleet.total_usage() == {"a": {}, "b": {"VCPU": 2, "MEMORY_MB": 2048, "DISK_GB": 2}, "c": {}}
    recorded = fleet.registry.get_instance(instance)
    assert (recorded.host, recorded.task_state) == ("b", None)
    with pytest.raises(MigrationNotFound):
        scheduler.confirm_move(instance, migration)  # already confirmed


def test_revert_puts_the_instance_back_with_the_same_allocations(fleet: Fleet) -> None:
    scheduler = fleet.scheduler()
    instance = boot(scheduler)
    source = fleet.allocations(instance)
    migration = str(uuidlib.uuid4())
    scheduler.schedule_move(boot_spec(LARGE, instance_uuids=[instance]), migration_uuid=migration)

    scheduler.revert_move(instance, migration)

    assert fleet.allocations(instance) == source
    assert fleet.allocations(migration) == {}
    assert fleet.total_usage() == {"a": {"VCPU": 1, "MEMORY_MB": 1024, "DISK_GB": 1}, "b": {}, "c": {}}
    recorded = fleet.registry.get_instance(instance)
    assert (recorded.host, recorded.task_state) == ("a", None)
    with pytest.raises(MigrationNotFound):
        scheduler.revert_move(instance, migration)


def test_no_valid_host_during_a_move_gives_the_source_allocations_back(fleet: Fleet) -> None:
    scheduler = fleet.scheduler()
    instance = boot(scheduler)
    source = fleet.allocations(instance)
    migration = str(uuidlib.uuid4())
    huge = flavor("huge", vcpus=4, memory_mb=12288)  # fits only on a, which is the source

    with pytest.raises(NoValidHost):
        scheduler.schedule_move(boot_spec(huge, instance_uuids=[instance]), migration_uuid=migration)

    assert fleet.allocations(instance) == source
    assert fleet.allocations(migration) == {}
    assert consumer(fleet, instance)["consumer_type"] == "INSTANCE"
    assert fleet.total_usage() == {"a": {"VCPU": 1, "MEMORY_MB": 1024, "DISK_GB": 1}, "b": {}, "c": {}}
    assert fleet.registry.get_instance(instance).task_state == "scheduling"  # untouched


def test_resize_to_the_same_host_when_allowed(fleet: Fleet) -> None:
    scheduler = fleet.scheduler(allow_resize_to_same_host=True)
    instance = boot(scheduler)
    migration = str(uuidlib.uuid4())
    result = scheduler.schedule_move(boot_spec(LARGE, instance_uuids=[instance]), migration_uuid=migration)
    assert result.hosts == ["a"]
    assert fleet.usages("a") == {"VCPU": 3, "MEMORY_MB": 3072, "DISK_GB": 3}  # both, until confirm
    scheduler.confirm_move(instance, migration)
    assert fleet.usages("a") == {"VCPU": 2, "MEMORY_MB": 2048, "DISK_GB": 2}
    assert fleet.registry.get_instance(instance).host == "a"


def test_release_of_a_move_result_reverts_it(fleet: Fleet) -> None:
    scheduler = fleet.scheduler()
    instance = boot(scheduler)
    source = fleet.allocations(instance)
    result = scheduler.schedule_move(boot_spec(LARGE, instance_uuids=[instance]), migration_uuid=str(uuidlib.uuid4()))
    scheduler.release(result)
    assert fleet.allocations(instance) == source
    assert fleet.usages("b") == {}


def test_an_anti_affinity_move_holds_its_source_until_confirm_or_revert(fleet: Fleet) -> None:
    scheduler = fleet.scheduler()
    group = fleet.add_group("anti-affinity")
    first = boot(scheduler, group=group)
    second = boot(scheduler, group=group)
    assert (fleet.host_of(first), fleet.host_of(second)) == ("a", "b")
    migration = str(uuidlib.uuid4())

    result = scheduler.schedule_move(boot_spec(SMALL, group=group, instance_uuids=[first]), migration_uuid=migration)
    assert result.hosts == ["c"]  # b holds the other member
    members = fleet.registry.get_group(group.uuid).members
    assert members == {first: "c", second: "b", migration: "a"}
    # Every host is spoken for: the destination by the moving member, the source for a revert.
    with pytest.raises(NoValidHost):
        scheduler.select_destinations(boot_spec(SMALL, group=group))
    assert fleet.total_usage()["c"] == {"VCPU": 1, "MEMORY_MB": 1024, "DISK_GB": 1}  # the refused boot left nothing

    scheduler.revert_move(first, migration)
    assert fleet.registry.get_group(group.uuid).members == {first: "a", second: "b"}
    third = boot(scheduler, group=group)
    assert fleet.host_of(third) == "c"


def test_an_anti_affinity_move_confirmed_frees_the_source_for_the_group(fleet: Fleet) -> None:
    scheduler = fleet.scheduler()
    group = fleet.add_group("anti-affinity")
    first = boot(scheduler, group=group)
    boot(scheduler, group=group)
    migration = str(uuidlib.uuid4())
    scheduler.schedule_move(boot_spec(SMALL, group=group, instance_uuids=[first]), migration_uuid=migration)
    scheduler.confirm_move(first, migration)
    assert fleet.registry.get_group(group.uuid).members[first] == "c"
    assert migration not in fleet.registry.get_group(group.uuid).members
    third = boot(scheduler, group=group)
    assert fleet.host_of(third) == "a"


def test_moves_that_cannot_start_change_nothing(fleet: Fleet) -> None:
    scheduler = fleet.scheduler()
    instance = boot(scheduler)
    source = fleet.allocations(instance)
    nowhere = str(uuidlib.uuid4())
    with pytest.raises(MoveError, match="holds no allocations"):
        scheduler.schedule_move(boot_spec(SMALL, instance_uuids=[nowhere]), migration_uuid=str(uuidlib.uuid4()))
    with pytest.raises(InvalidRequestSpec, match="exactly one instance"):
        scheduler.schedule_move(boot_spec(SMALL, num_instances=2), migration_uuid=str(uuidlib.uuid4()))
    with pytest.raises(InvalidRequestSpec, match="differ"):
        scheduler.schedule_move(boot_spec(SMALL, instance_uuids=[instance]), migration_uuid=instance)
    with pytest.raises(InvalidRequestSpec, match="not a uuid"):
        scheduler.schedule_move(boot_spec(SMALL, instance_uuids=[instance]), migration_uuid="nope")
    # A migration uuid already in use as a consumer.
    other = boot(scheduler)
    with pytest.raises(MoveError, match="already holds allocations"):
        scheduler.schedule_move(boot_spec(SMALL, instance_uuids=[instance]), migration_uuid=other)
    assert fleet.allocations(instance) == source
    with pytest.raises(MigrationNotFound):
        scheduler.confirm_move(instance, str(uuidlib.uuid4()))
    with pytest.raises(MigrationNotFound):
        scheduler.revert_move(instance, str(uuidlib.uuid4()))
    assert fleet.allocations(instance) == source
    assert fleet.over_capacity() == []


def test_the_registry_holds_and_settles_a_moves_group_membership(fleet: Fleet) -> None:
    group = fleet.add_group("anti-affinity")
    instance, migration, other = (str(uuidlib.uuid4()) for _ in range(3))
    fleet.registry.record_instance(instance, "a", flavor_name="small")
    fleet.registry.add_group_member(group.uuid, instance, "a")

    fleet.registry.hold_group_for_move(group.uuid, instance, migration, "b", "a")
    assert fleet.registry.get_group(group.uuid).members == {instance: "b", migration: "a"}
    with pytest.raises(GroupPolicyViolation):  # the source is held for a revert
        fleet.registry.add_group_member(group.uuid, other, "a")
    with pytest.raises(GroupPolicyViolation):  # the destination is checked: nothing changes
        fleet.registry.hold_group_for_move(group.uuid, other, str(uuidlib.uuid4()), "b", None)
    assert fleet.registry.get_group(group.uuid).members == {instance: "b", migration: "a"}

    fleet.registry.finish_move(instance, migration, "a")  # revert
    assert fleet.registry.get_group(group.uuid).members == {instance: "a"}
    settled = fleet.registry.get_instance(instance)
    assert (settled.host, settled.task_state) == ("a", None)
