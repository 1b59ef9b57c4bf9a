"""A plain multi-instance request claims all its instances in one POST /allocations and one registry write.

Against real placement (in-process) and a real registry (SQLite): which requests take the
batch (and which still claim one by one), that the hosts chosen are the ones the one-by-one
path chooses, that a refusal before the claim writes nothing at all, and that a batch
placement refuses (a competitor took the capacity after the candidates query) is placed
again one by one without overcommit.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from allotment.client import PlacementClient
from allotment.scheduler.claims import as_allocations
from allotment.scheduler.errors import NoValidHost
from tests.scheduler.fleet import PROJECT, USER, Fleet, RecordingPlacement, boot_spec, flavor, new_uuid, open_fleet


@pytest.fixture
def fleet(tmp_path: Path) -> Iterator[Fleet]:
    with open_fleet(tmp_path) as f:
        yield f


def writes(recorder: RecordingPlacement) -> list[tuple[str, str, int]]:
    return [call for call in recorder.calls if call[0] in ("PUT", "POST", "DELETE")]


class RecordingCompetitor(RecordingPlacement):
    """Records every call and, once the first candidates answer is in, lets ``competitor`` claim first."""

    def __init__(self, inner: PlacementClient, competitor: Any) -> None:
        super().__init__(inner)
        self.competitor = competitor

    def request(self, method: str, path: str, **kwargs: Any) -> Any:
        body = super().request(method, path, **kwargs)
        if method == "GET" and path == "/allocation_candidates" and self.competitor is not None:
            competitor, self.competitor = self.competitor, None
            competitor()
        return body


def test_a_multi_instance_request_is_claimed_in_one_write_and_recorded_once(fleet: Fleet) -> None:
    fleet.add_hosts(4, vcpus=4)
    scheduler = fleet.scheduler()
    scheduler.placement = recorder = RecordingPlacement(fleet.placement)
    fleet.registry.refresh()
    generation = fleet.registry.snapshot.generation
    spec = boot_spec(flavor(vcpus=3), num_instances=3)

    result = scheduler.select_destinations(spec)

    assert writes(recorder) == [("POST", "/allocations", 204)]
    assert len(set(result.hosts)) == 3  # 3 VCPU each on 4-VCPU hosts: one per host
    for instance, host in zip(spec.instance_uuids, result.hosts):
        assert fleet.host_of(instance) == host
        assert fleet.registry.get_instance(instance).host == host
    # The registry's three records committed together, and this process's snapshot took them in.
    assert fleet.registry.snapshot.generation == generation + 3
    assert fleet.over_capacity() == []


def test_the_batch_chooses_the_hosts_the_one_by_one_claims_choose(tmp_path: Path) -> None:
    chosen = {}
    for batch in (False, True):
        with open_fleet(tmp_path / str(batch)) as fleet:
            for i, memory in enumerate((4096, 8192, 16384, 6144, 12288)):
                fleet.add_host(f"h{i}", vcpus=4, memory_mb=memory)
            spec = boot_spec(flavor(vcpus=2, memory_mb=2048), num_instances=6)
            result = fleet.scheduler(batch_claims=batch).select_destinations(spec)
            chosen[batch] = ([[s.host for s in selections] for selections in result.selections],
                             {name: fleet.usages(name) for name in fleet.roots})
    assert chosen[True] == chosen[False]  # the hosts, the alternates and the usages they leave


@pytest.mark.parametrize("case", ["one instance", "server group", "batch_claims off"])
def test_requests_with_something_to_check_per_claim_still_claim_one_by_one(fleet: Fleet, case: str) -> None:
    fleet.add_hosts(3)
    spec = boot_spec(num_instances=1 if case == "one instance" else 2,
                     group=fleet.add_group("anti-affinity") if case == "server group" else None)
    scheduler = fleet.scheduler(batch_claims=case != "batch_claims off")
    scheduler.placement = recorder = RecordingPlacement(fleet.placement)
    scheduler.select_destinations(spec)
    assert [(m, status) for m, _, status in writes(recorder)] == [("PUT", 204)] * spec.num_instances


def test_a_request_that_does_not_fit_writes_nothing_at_all(fleet: Fleet) -> None:
    fleet.add_hosts(2, vcpus=2)
    scheduler = fleet.scheduler()
    scheduler.placement = recorder = RecordingPlacement(fleet.placement)
    with pytest.raises(NoValidHost, match="placed 2 of 3"):
        scheduler.select_destinations(boot_spec(flavor(vcpus=2), num_instances=3))
    # One by one, two claims would have been written and deleted again; the batch never claimed.
    assert writes(recorder) == []
    assert fleet.registry.list_instances() == []
    assert all(not usage for usage in fleet.total_usage().values())


def test_a_batch_that_loses_a_race_is_placed_again_one_by_one(fleet: Fleet) -> None:
    fleet.add_host("big", vcpus=8, memory_mb=65536)
    fleet.add_host("small1", vcpus=2, memory_mb=4096)
    fleet.add_host("small2", vcpus=2, memory_mb=4096)
    rival = new_uuid()

    def take_big() -> None:  # another scheduler fills the best host after our candidates query
        fleet.placement.put_allocations(rival, as_allocations(
            {fleet.roots["big"]: {"resources": {"VCPU": 8}}}, project_id=PROJECT, user_id=USER,
            consumer_type="INSTANCE"))

    scheduler = fleet.scheduler()
    scheduler.placement = recorder = RecordingCompetitor(fleet.placement, take_big)
    spec = boot_spec(flavor(vcpus=2), num_instances=2)
    result = scheduler.select_destinations(spec)

    calls = [(m, path, status) for m, path, status in recorder.calls if path != "/allocations/" + rival]
    assert calls[:3] == [("GET", "/allocation_candidates", 200), ("POST", "/allocations", 409),
                         ("GET", "/allocation_candidates", 200)]  # refused whole, then a fresh query
    assert [(m, status) for m, _, status in calls[3:]] == [("PUT", 204), ("PUT", 204)]
    assert sorted(result.hosts) == ["small1", "small2"]
    assert fleet.usages("big") == {"VCPU": 8}
    for instance, host in zip(spec.instance_uuids, result.hosts):
        assert fleet.registry.get_instance(instance).host == host
    assert fleet.over_capacity() == []


@pytest.mark.parametrize("count", [1, 2])
def test_a_claim_naming_a_provider_deleted_meanwhile_is_placed_elsewhere(fleet: Fleet, count: int) -> None:
    # Placement refuses the claim (400) but keeps its new consumers, holding nothing at generation 0, as
    # upstream does: the next claim for them must not be refused as a consumer conflict.
    fleet.add_host("a", vcpus=4, memory_mb=16384)
    fleet.add_host("b", vcpus=4, memory_mb=8192)
    fleet.add_host("c", vcpus=4, memory_mb=8192)

    def drop_a() -> None:  # the best host's provider is deleted after our candidates query
        fleet.placement.delete_provider(fleet.roots.pop("a"))

    scheduler = fleet.scheduler()
    scheduler.placement = recorder = RecordingCompetitor(fleet.placement, drop_a)
    result = scheduler.select_destinations(boot_spec(flavor(vcpus=2), num_instances=count))
    refused = ("POST", "/allocations", 400) if count > 1 else ("PUT", f"/allocations/{result.instance_uuids[0]}", 400)
    assert refused in recorder.calls
    assert sorted(result.hosts) == ["b", "c"][:count]
    assert fleet.over_capacity() == []
