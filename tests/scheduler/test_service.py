"""select_destinations against real placement (in-process) and a real registry (SQLite).

Covers: the weighed-best host wins and is claimed and recorded; multi-instance all-or-nothing
(no allocation, record or membership left behind); alternates (count, cell, exclusivity,
claimable later); server group policies within one request; per-filter reasons; a claim
that loses a race to another writer; nested hosts offering a second candidate.
"""

from __future__ import annotations

import dataclasses
import uuid as uuidlib
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from allotment.client import Inventory, PlacementClient, PlacementError
from allotment.scheduler.claims import as_allocations
from allotment.scheduler.errors import ConsumerInUse, NoValidHost
from allotment.scheduler.selection import TIMING_KEYS
from allotment.scheduler.spec import InvalidRequestSpec, RequestSpec, ServerGroup
from tests.scheduler.fleet import (
    PROJECT,
    USER,
    CompetingPlacement,
    Fleet,
    RecordingPlacement,
    boot_spec,
    flavor,
    open_fleet,
)


@pytest.fixture
def fleet(tmp_path: Path) -> Iterator[Fleet]:
    with open_fleet(tmp_path) as f:
        yield f


def claim_directly(placement: PlacementClient, consumer: str, allocations: dict[str, Any]) -> None:
    placement.put_allocations(consumer, as_allocations(allocations, project_id=PROJECT, user_id=USER,
                                                       consumer_type="INSTANCE"))


def assert_nothing_left(fleet: Fleet) -> None:
    assert all(not usage for usage in fleet.total_usage().values()), fleet.total_usage()
    assert fleet.registry.list_instances() == []
    assert all(not g.members for g in fleet.registry.list_groups())


# ---- choosing and claiming ----------------------------------------------------------------------


def test_the_weighed_best_host_is_claimed_and_recorded(fleet: Fleet) -> None:
    for name, mem in (("small", 4096), ("big", 16384), ("medium", 8192)):
        fleet.add_host(name, memory_mb=mem)
    result = fleet.scheduler().select_destinations(boot_spec(flavor(vcpus=2, memory_mb=1024)))

    assert result.hosts == ["big"]
    (instance,) = result.instance_uuids
    chosen = result.selections[0][0]
    assert chosen.compute_node_uuid == fleet.roots["big"]
    assert chosen.allocation_request_version == "1.39"
    assert chosen.availability_zone == "nova"
    assert fleet.allocations(instance) == {fleet.roots["big"]: {"VCPU": 2, "MEMORY_MB": 1024, "DISK_GB": 1}}
    assert fleet.usages("small") == {} and fleet.usages("medium") == {}
    recorded = fleet.registry.get_instance(instance)
    assert (recorded.host, recorded.task_state, recorded.flavor_name, recorded.vcpus) == ("big", "scheduling",
                                                                                        "small", 2)
    assert set(result.timings) == set(TIMING_KEYS)
    assert result.timings["total"] >= result.timings["claim"] > 0
    assert result.reservation_id.startswith("r-")


def test_a_request_checks_the_registry_once_and_its_own_record_costs_no_reload(
        fleet: Fleet, monkeypatch: pytest.MonkeyPatch) -> None:
    fleet.add_hosts(3)
    scheduler = fleet.scheduler()
    scheduler.select_destinations(boot_spec())  # the snapshot's first load
    refreshes: list[None] = []
    real = fleet.registry.refresh

    def counted() -> None:
        refreshes.append(None)
        real()

    monkeypatch.setattr(fleet.registry, "refresh", counted)
    snapshot = fleet.registry.snapshot
    loads = (snapshot.full_loads, snapshot.partial_loads)
    for _ in range(3):
        scheduler.select_destinations(boot_spec())
    assert len(refreshes) == 3  # one per request
    assert (snapshot.full_loads, snapshot.partial_loads) == loads  # each record was taken in, not read back
    recorded = {i.uuid: i.host for i in fleet.registry.list_instances()}
    seen = {u: s.host for s in fleet.registry.host_states().values() for u in s.instances}
    assert len(recorded) == 4 and seen == recorded


def test_given_instance_uuids_are_used(fleet: Fleet) -> None:
    fleet.add_hosts(2)
    wanted = [str(uuidlib.uuid4()), str(uuidlib.uuid4())]
    result = fleet.scheduler().select_destinations(boot_spec(num_instances=2, instance_uuids=wanted))
    assert result.instance_uuids == wanted
    assert all(fleet.allocations(u) for u in wanted)


def test_hosts_missing_from_the_registry_are_never_chosen(fleet: Fleet) -> None:
    fleet.add_host("registered", memory_mb=2048)
    stray = fleet.placement.create_provider("unregistered")
    fleet.placement.set_inventories(stray.uuid, stray.generation, {
        "VCPU": Inventory(total=64), "MEMORY_MB": Inventory(total=65536), "DISK_GB": Inventory(total=1000)})
    result = fleet.scheduler().select_destinations(boot_spec())
    assert result.hosts == ["registered"]
    assert all(s.host == "registered" for s in result.selections[0])
    assert fleet.placement.provider_usages(stray.uuid) == {"VCPU": 0, "MEMORY_MB": 0, "DISK_GB": 0}


def test_multi_instance_fills_a_host_before_moving_on(fleet: Fleet) -> None:
    # One host takes two; the ledger of this request's own claims stops a third being tried there.
    fleet.add_host("a", vcpus=4, memory_mb=65536)
    fleet.add_host("b", vcpus=4, memory_mb=4096)
    result = fleet.scheduler().select_destinations(boot_spec(flavor(vcpus=2), num_instances=3))
    assert sorted(result.hosts) == ["a", "a", "b"]
    assert fleet.usages("a")["VCPU"] == 4 and fleet.usages("b")["VCPU"] == 2
    assert fleet.over_capacity() == []


@pytest.mark.parametrize(("batch", "writes"), [
    (False, [("PUT", 204), ("PUT", 204)]),
    (True, [("POST", 204)]),
])
def test_a_nested_host_takes_a_second_instance_through_its_next_candidate(
        fleet: Fleet, batch: bool, writes: list[tuple[str, int]]) -> None:
    fleet.add_host("numa", disk_gb=100, numa=[{"VCPU": 2, "MEMORY_MB": 2048}, {"VCPU": 2, "MEMORY_MB": 2048}])
    scheduler = fleet.scheduler(batch_claims=batch)
    scheduler.placement = recorder = RecordingPlacement(fleet.placement)
    result = scheduler.select_destinations(boot_spec(flavor(vcpus=2, memory_mb=1024), num_instances=2))
    # The second instance skipped the candidates the first had used up instead of being refused by placement
    # (one claim each, or one batch claim of both, and no 409).
    assert [(m, status) for m, _, status in recorder.calls if m in ("PUT", "POST")] == writes
    assert result.hosts == ["numa", "numa"]
    first, second = (s[0].allocation_request["allocations"] for s in result.selections)
    vcpu_on = [next(rp for rp, a in alloc.items() if "VCPU" in a["resources"]) for alloc in (first, second)]
    assert sorted(vcpu_on) == sorted(fleet.children["numa"])  # one instance per NUMA node's CPUs
    assert fleet.over_capacity() == []


# ---- all or nothing --------------------------------------------------------------------------------


def test_n_instances_where_only_n_minus_1_fit_leave_nothing_behind(fleet: Fleet) -> None:
    fleet.add_hosts(3, vcpus=2)
    with pytest.raises(NoValidHost) as err:
        fleet.scheduler().select_destinations(boot_spec(flavor(vcpus=2), num_instances=4))
    assert "not enough hosts: placed 3 of 4" in err.value.reason
    assert_nothing_left(fleet)


def test_anti_affinity_over_too_few_hosts_rolls_back_claims_records_and_members(fleet: Fleet) -> None:
    fleet.add_hosts(3)
    group = fleet.add_group("anti-affinity")
    with pytest.raises(NoValidHost) as err:
        fleet.scheduler().select_destinations(boot_spec(num_instances=4, group=group))
    # Each instance filters the hosts that passed for the one before it (as in Nova): 3, 2, 1, none.
    assert err.value.reason == "ServerGroupAntiAffinityFilter removed 1 of 1 hosts (placing instance 4 of 4)"
    assert_nothing_left(fleet)
    # The hosts are whole again: the same request for 3 now succeeds.
    result = fleet.scheduler().select_destinations(boot_spec(num_instances=3, group=group))
    assert len(set(result.hosts)) == 3


def test_an_instance_uuid_that_already_holds_allocations_is_refused(fleet: Fleet) -> None:
    fleet.add_hosts(2)
    taken = str(uuidlib.uuid4())
    claim_directly(fleet.placement, taken, {fleet.roots["host00000"]: {"resources": {"VCPU": 1}}})
    with pytest.raises(ConsumerInUse):
        fleet.scheduler().select_destinations(boot_spec(num_instances=2,
                                                        instance_uuids=[str(uuidlib.uuid4()), taken]))
    assert fleet.allocations(taken) == {fleet.roots["host00000"]: {"VCPU": 1}}
    assert fleet.total_usage() == {"host00000": {"VCPU": 1}, "host00001": {}}
    assert fleet.registry.list_instances() == []


# ---- alternates ----------------------------------------------------------------------------------


def test_alternates_are_unclaimed_hosts_of_the_same_cell_not_chosen_for_any_instance(fleet: Fleet) -> None:
    # By free RAM: east0, east1, then every west host, then east2, east3.
    for name, cell, mem in (("east0", "east", 16384), ("east1", "east", 15360), ("east2", "east", 4096),
                            ("east3", "east", 3072), ("west0", "west", 12288), ("west1", "west", 11264),
                            ("west2", "west", 10240)):
        fleet.add_host(name, cell=cell, memory_mb=mem)
    group = fleet.add_group("anti-affinity")
    result = fleet.scheduler(max_attempts=3).select_destinations(boot_spec(num_instances=2, group=group))

    assert result.hosts == ["east0", "east1"]
    # Not a chosen host (east1 is second best for instance 1), not another cell (west is next by weight).
    assert [[s.host for s in row] for row in result.selections] == [["east0", "east2", "east3"],
                                                                   ["east1", "east2", "east3"]]
    assert all(s.cell == "east" for row in result.selections for s in row)
    # Alternates hold no allocation: only the chosen hosts are used.
    used = {name for name, usage in fleet.total_usage().items() if usage}
    assert used == {"east0", "east1"}


def test_alternates_can_be_turned_off_and_are_bounded_by_the_hosts_there_are(fleet: Fleet) -> None:
    fleet.add_hosts(2)
    result = fleet.scheduler(max_attempts=5).select_destinations(boot_spec(), return_alternates=False)
    assert [len(row) for row in result.selections] == [1]
    result = fleet.scheduler(max_attempts=5).select_destinations(boot_spec())
    assert [len(row) for row in result.selections] == [2]


def test_an_alternates_allocation_request_can_be_claimed_later(fleet: Fleet) -> None:
    fleet.add_hosts(3)
    result = fleet.scheduler().select_destinations(boot_spec())
    alternate = result.selections[0][1]
    # The build failed on the chosen host: the caller drops that claim and claims the alternate itself.
    instance = result.instance_uuids[0]
    fleet.placement.delete_allocations(instance)
    claim_directly(fleet.placement, instance, alternate.allocation_request["allocations"])
    assert fleet.host_of(instance) == alternate.host
    assert fleet.over_capacity() == []


def test_release_drops_claims_and_records(fleet: Fleet) -> None:
    fleet.add_hosts(3)
    group = fleet.add_group("anti-affinity")
    scheduler = fleet.scheduler()
    result = scheduler.select_destinations(boot_spec(num_instances=2, group=group))
    assert len(fleet.registry.get_group(group.uuid).members) == 2
    scheduler.release(result)
    assert_nothing_left(fleet)


# ---- server groups -------------------------------------------------------------------------------


def test_anti_affinity_places_n_instances_of_one_request_on_n_hosts(fleet: Fleet) -> None:
    fleet.add_host("roomy", vcpus=64, memory_mb=262144)  # the weighers' favourite by far
    fleet.add_hosts(3)
    group = fleet.add_group("anti-affinity")
    result = fleet.scheduler().select_destinations(boot_spec(num_instances=4, group=group))
    assert len(set(result.hosts)) == 4
    members = fleet.registry.get_group(group.uuid).members
    assert members == dict(zip(result.instance_uuids, result.hosts))


def test_anti_affinity_max_server_per_host(fleet: Fleet) -> None:
    fleet.add_hosts(2)
    group = fleet.add_group("anti-affinity", rules={"max_server_per_host": 2})
    result = fleet.scheduler().select_destinations(boot_spec(num_instances=4, group=group))
    assert sorted(result.hosts.count(h) for h in set(result.hosts)) == [2, 2]
    with pytest.raises(NoValidHost):
        fleet.scheduler().select_destinations(boot_spec(group=group))


def test_affinity_lands_together_and_later_requests_follow(fleet: Fleet) -> None:
    fleet.add_hosts(4)
    group = fleet.add_group("affinity")
    first = fleet.scheduler().select_destinations(boot_spec(num_instances=3, group=group))
    assert len(set(first.hosts)) == 1
    later = fleet.scheduler(seed=7).select_destinations(boot_spec(group=group))
    assert later.hosts == first.hosts[:1]
    assert set(fleet.registry.get_group(group.uuid).members.values()) == set(first.hosts)


def test_the_group_hint_alone_finds_the_registered_group(fleet: Fleet) -> None:
    fleet.add_hosts(3)
    group = fleet.add_group("anti-affinity")
    scheduler = fleet.scheduler()
    one = scheduler.select_destinations(boot_spec(hints={"group": group.uuid}))
    two = scheduler.select_destinations(boot_spec(hints={"group": group.uuid}, num_instances=2))
    assert len(set(one.hosts + two.hosts)) == 3


def test_a_group_the_registry_does_not_know_or_with_another_policy_is_a_bad_request(fleet: Fleet) -> None:
    fleet.add_hosts(2)
    with pytest.raises(InvalidRequestSpec, match="not registered"):
        fleet.scheduler().select_destinations(
            boot_spec(group=ServerGroup(uuid=str(uuidlib.uuid4()), policy="anti-affinity")))
    group = fleet.add_group("affinity")
    with pytest.raises(InvalidRequestSpec, match="policy"):
        fleet.scheduler().select_destinations(boot_spec(group=ServerGroup(uuid=group.uuid, policy="anti-affinity")))
    assert_nothing_left(fleet)


# ---- reasons and bad requests ---------------------------------------------------------------------


def test_no_valid_host_names_the_filters_and_what_they_removed(fleet: Fleet) -> None:
    fleet.add_hosts(4)
    fleet.registry.set_host_status("host00000", disabled=True)
    fleet.registry.set_host_status("host00001", forced_down=True)
    group = fleet.add_group("anti-affinity")
    with pytest.raises(NoValidHost) as err:
        fleet.scheduler().select_destinations(boot_spec(num_instances=3, group=group))
    assert err.value.reason == (
        "ComputeFilter removed 2 of 4 hosts; ServerGroupAntiAffinityFilter removed 1 of 1 hosts "
        "(placing instance 3 of 3)")
    assert_nothing_left(fleet)


def test_no_candidates_at_all_says_so(fleet: Fleet) -> None:
    fleet.add_hosts(2, vcpus=2)
    with pytest.raises(NoValidHost, match="placement found no allocation candidates"):
        fleet.scheduler().select_destinations(boot_spec(flavor(vcpus=4)))


def test_a_forced_host_skips_the_filters_and_an_unknown_one_is_no_valid_host(fleet: Fleet) -> None:
    fleet.add_hosts(3)
    fleet.registry.set_host_status("host00001", disabled=True)
    result = fleet.scheduler().select_destinations(boot_spec(force_hosts=["host00001"]))
    assert result.hosts == ["host00001"]
    with pytest.raises(NoValidHost, match="no such host: nowhere"):
        fleet.scheduler().select_destinations(boot_spec(force_hosts=["nowhere"]))


def test_bad_specs_are_refused_before_anything_is_claimed(fleet: Fleet) -> None:
    fleet.add_hosts(2)
    spec = dataclasses.replace(boot_spec(), num_instances=0)
    with pytest.raises(InvalidRequestSpec):
        fleet.scheduler().select_destinations(spec)
    spec = dataclasses.replace(boot_spec(), project_id="")
    with pytest.raises(InvalidRequestSpec, match="project_id"):
        fleet.scheduler().select_destinations(spec)
    with pytest.raises(InvalidRequestSpec):
        fleet.scheduler().select_destinations({"flavor": {}})  # type: ignore[arg-type]
    assert_nothing_left(fleet)


# ---- races ----------------------------------------------------------------------------------------


def test_a_claim_that_loses_the_race_moves_on_without_overcommit(fleet: Fleet) -> None:
    fleet.add_host("best", vcpus=4, memory_mb=32768)
    fleet.add_host("second", vcpus=4, memory_mb=16384)
    fleet.add_host("third", vcpus=4, memory_mb=8192)
    rival = str(uuidlib.uuid4())

    def fill_best() -> None:
        claim_directly(fleet.placement, rival, {fleet.roots["best"]: {"resources": {"VCPU": 4}}})

    scheduler = fleet.scheduler()
    scheduler.placement = CompetingPlacement(fleet.placement, fill_best)
    result = scheduler.select_destinations(boot_spec(flavor(vcpus=2)))

    assert result.hosts == ["second"]
    assert [s.host for s in result.selections[0][1:]] == ["third"]  # the host that refused is no alternate
    assert fleet.usages("best") == {"VCPU": 4}
    assert fleet.allocations(rival) == {fleet.roots["best"]: {"VCPU": 4}}
    assert fleet.over_capacity() == []


# ---- the spec is read only ------------------------------------------------------------------------


@dataclasses.dataclass(frozen=True)
class CountingSpec(RequestSpec):
    """A RequestSpec that counts how often it is validated."""

    def validate(self) -> None:
        VALIDATIONS.append(self.num_instances)
        super().validate()


VALIDATIONS: list[int] = []


def test_a_spec_cannot_be_changed_once_built() -> None:
    spec = boot_spec()
    with pytest.raises(dataclasses.FrozenInstanceError):
        spec.num_instances = 2  # type: ignore[misc]
    with pytest.raises(dataclasses.FrozenInstanceError):
        spec.flavor.vcpus = 64  # type: ignore[misc]


def test_a_spec_is_validated_once_per_request(fleet: Fleet) -> None:
    fleet.add_hosts(3)
    group = fleet.add_group("anti-affinity")
    VALIDATIONS.clear()
    spec = CountingSpec.from_flavor(flavor(), project_id=PROJECT, user_id=USER, num_instances=2, server_group=group)
    assert VALIDATIONS == [2]  # built validated
    scheduler = fleet.scheduler()
    result = scheduler.select_destinations(spec)
    assert VALIDATIONS == [2]
    assert len(set(result.hosts)) == 2
    # A spec put together field by field is validated on first use, and only then.
    VALIDATIONS.clear()
    raw = CountingSpec(flavor=flavor(), project_id=PROJECT, user_id=USER)
    scheduler.select_destinations(raw)
    scheduler.select_destinations(raw)
    assert VALIDATIONS == [1]
    # A move: once, for the spec it is given.
    VALIDATIONS.clear()
    moving = CountingSpec.from_flavor(flavor(), project_id=PROJECT, user_id=USER,
                                      instance_uuids=[result.instance_uuids[0]])
    scheduler.schedule_move(moving, migration_uuid=str(uuidlib.uuid4()))
    assert VALIDATIONS == [1]
