"""Aggregate operations of the Registry, on every backend."""

from __future__ import annotations

import pytest

from allotment.scheduler.registry import Conflict, InvalidInput, NotFound, Registry
from tests.scheduler.registry.conftest import new_uuid


def test_create_with_uuid_and_metadata(registry: Registry) -> None:
    agg_uuid = new_uuid()
    agg = registry.create_aggregate("rack1", uuid=agg_uuid, metadata={"availability_zone": "az1", "ssd": "true"})
    assert (agg.uuid, agg.name, agg.metadata, agg.hosts) == (agg_uuid, "rack1", {"availability_zone": "az1",
                                                                                  "ssd": "true"}, [])
    assert [a.uuid for a in registry.list_aggregates()] == [agg_uuid]


def test_names_and_uuids_are_unique(registry: Registry) -> None:
    agg = registry.create_aggregate("rack1")
    with pytest.raises(Conflict) as exc:
        registry.create_aggregate("rack1")
    assert exc.value.code == "scheduler.aggregate.duplicate_name"
    with pytest.raises(Conflict) as exc:
        registry.create_aggregate("rack2", uuid=agg.uuid)
    assert exc.value.code == "scheduler.aggregate.duplicate_uuid"
    other = registry.create_aggregate("rack2")
    with pytest.raises(Conflict):
        registry.rename_aggregate(other.uuid, "rack1")
    assert registry.rename_aggregate(other.uuid, "rack3").name == "rack3"
    assert sorted(a.name for a in registry.list_aggregates()) == ["rack1", "rack3"]


def test_metadata_set_and_unset(registry: Registry) -> None:
    agg = registry.create_aggregate("a", metadata={"k1": "v1", "k2": "v2"})
    agg = registry.set_aggregate_metadata(agg.uuid, {"k1": "new", "k2": None, "k3": ""})
    assert agg.metadata == {"k1": "new", "k3": ""}
    with pytest.raises(InvalidInput):
        registry.set_aggregate_metadata(agg.uuid, {"k": "x" * 256})
    with pytest.raises(InvalidInput):
        registry.set_aggregate_metadata(agg.uuid, {"": "v"})
    with pytest.raises(NotFound):
        registry.set_aggregate_metadata(new_uuid(), {"k": "v"})
    assert registry.get_aggregate(agg.uuid).metadata == {"k1": "new", "k3": ""}


def test_hosts_in_and_out(registry: Registry) -> None:
    registry.register_host("c1", new_uuid())
    registry.register_host("c2", new_uuid())
    agg = registry.create_aggregate("a")
    registry.add_aggregate_host(agg.uuid, "c2")
    assert registry.add_aggregate_host(agg.uuid, "c1").hosts == ["c1", "c2"]
    assert registry.get_host("c1").aggregates == [agg.uuid]
    with pytest.raises(Conflict) as exc:
        registry.add_aggregate_host(agg.uuid, "c1")
    assert exc.value.code == "scheduler.aggregate.host_exists"
    with pytest.raises(NotFound) as exc:
        registry.add_aggregate_host(agg.uuid, "ghost")
    assert exc.value.code == "scheduler.host.not_found"
    assert registry.remove_aggregate_host(agg.uuid, "c1").hosts == ["c2"]
    with pytest.raises(NotFound) as exc:
        registry.remove_aggregate_host(agg.uuid, "c1")
    assert exc.value.code == "scheduler.aggregate.host_not_member"


def test_a_host_lives_in_one_availability_zone(registry: Registry) -> None:
    registry.register_host("c1", new_uuid())
    az1 = registry.create_aggregate("az1", metadata={"availability_zone": "az1"})
    az2 = registry.create_aggregate("az2", metadata={"availability_zone": "az2"})
    plain = registry.create_aggregate("plain")
    registry.add_aggregate_host(az1.uuid, "c1")
    with pytest.raises(Conflict) as exc:
        registry.add_aggregate_host(az2.uuid, "c1")
    assert exc.value.code == "scheduler.aggregate.zone_conflict"
    assert "az1" in exc.value.detail
    registry.add_aggregate_host(plain.uuid, "c1")
    with pytest.raises(Conflict):
        registry.set_aggregate_metadata(plain.uuid, {"availability_zone": "az2", "other": "x"})
    assert registry.get_aggregate(plain.uuid).metadata == {}  # nothing half-written
    # The same zone twice is fine.
    assert registry.set_aggregate_metadata(plain.uuid, {"availability_zone": "az1"}).metadata == {
        "availability_zone": "az1"}


def test_delete_only_when_empty(registry: Registry) -> None:
    registry.register_host("c1", new_uuid())
    agg = registry.create_aggregate("a", metadata={"k": "v"})
    registry.add_aggregate_host(agg.uuid, "c1")
    with pytest.raises(Conflict) as exc:
        registry.delete_aggregate(agg.uuid)
    assert exc.value.code == "scheduler.aggregate.not_empty"
    registry.remove_aggregate_host(agg.uuid, "c1")
    registry.delete_aggregate(agg.uuid)
    with pytest.raises(NotFound):
        registry.get_aggregate(agg.uuid)
    registry.create_aggregate("a")  # the name is free again


def test_bad_input(registry: Registry) -> None:
    with pytest.raises(InvalidInput):
        registry.create_aggregate("")
    with pytest.raises(InvalidInput):
        registry.create_aggregate("a", uuid="xyz")
    with pytest.raises(InvalidInput):
        registry.create_aggregate("a", metadata={"k": "bad\nvalue"})
    assert registry.list_aggregates() == []
