"""Server groups: creation rules and the policy check of add_group_member, on every backend."""

from __future__ import annotations

import pytest

from allotment.scheduler.registry import Conflict, GroupPolicyViolation, InvalidInput, NotFound, Registry
from tests.scheduler.registry.conftest import new_uuid


@pytest.fixture
def hosts(registry: Registry) -> list[str]:
    names = ["c1", "c2", "c3"]
    for name in names:
        registry.register_host(name, new_uuid())
    return names


def test_create_get_list_delete(registry: Registry) -> None:
    g = registry.create_group("web", "anti-affinity", rules={"max_server_per_host": 2}, project_id="p1",
                              user_id="u1")
    assert (g.name, g.policy, g.rules, g.project_id, g.user_id, g.members, g.hosts) == (
        "web", "anti-affinity", {"max_server_per_host": 2}, "p1", "u1", {}, [])
    registry.create_group("db", "affinity", project_id="p2")
    assert [x.name for x in registry.list_groups()] == ["db", "web"]
    assert [x.name for x in registry.list_groups(project_id="p1")] == ["web"]
    registry.delete_group(g.uuid)
    with pytest.raises(NotFound) as exc:
        registry.get_group(g.uuid)
    assert exc.value.code == "scheduler.server_group.not_found"


@pytest.mark.parametrize("policy, rules, fragment", [
    ("best-effort", None, "unknown server group policy"),
    ("affinity", {"max_server_per_host": 2}, "only allowed with the anti-affinity"),
    ("anti-affinity", {"max_server_per_host": 0}, "positive integer"),
    ("anti-affinity", {"max_server_per_host": "2"}, "positive integer"),
    ("anti-affinity", {"max_servers": 2}, "unknown server group rule"),
])
def test_bad_groups(registry: Registry, policy: str, rules: dict | None, fragment: str) -> None:
    with pytest.raises(InvalidInput, match=fragment):
        registry.create_group("g", policy, rules=rules)
    assert registry.list_groups() == []


def test_duplicate_uuid(registry: Registry) -> None:
    g = registry.create_group("g", "affinity")
    with pytest.raises(Conflict):
        registry.create_group("g2", "affinity", uuid=g.uuid)


def test_anti_affinity_default_one_per_host(registry: Registry, hosts: list[str]) -> None:
    g = registry.create_group("g", "anti-affinity")
    a, b, c = new_uuid(), new_uuid(), new_uuid()
    registry.add_group_member(g.uuid, a, "c1")
    with pytest.raises(GroupPolicyViolation) as exc:
        registry.add_group_member(g.uuid, b, "c1")
    assert "max_server_per_host 1" in exc.value.detail and "c1" in exc.value.detail
    assert exc.value.code == "scheduler.server_group.policy_violation"
    registry.add_group_member(g.uuid, b, "c2")
    got = registry.add_group_member(g.uuid, c, "c3")
    assert got.members == {a: "c1", b: "c2", c: "c3"}
    assert got.hosts == ["c1", "c2", "c3"]
    spec = got.to_spec()
    assert spec.policy == "anti-affinity" and sorted(spec.members) == sorted([a, b, c]) and spec.hosts == hosts


def test_anti_affinity_max_server_per_host(registry: Registry, hosts: list[str]) -> None:
    g = registry.create_group("g", "anti-affinity", rules={"max_server_per_host": 3})
    for _ in range(3):
        registry.add_group_member(g.uuid, new_uuid(), "c1")
    with pytest.raises(GroupPolicyViolation):
        registry.add_group_member(g.uuid, new_uuid(), "c1")
    assert len(registry.get_group(g.uuid).members) == 3


def test_affinity_keeps_members_together(registry: Registry, hosts: list[str]) -> None:
    g = registry.create_group("g", "affinity")
    registry.add_group_member(g.uuid, new_uuid(), "c2")
    registry.add_group_member(g.uuid, new_uuid(), "c2")
    with pytest.raises(GroupPolicyViolation, match="'c2'"):
        registry.add_group_member(g.uuid, new_uuid(), "c1")
    assert registry.get_group(g.uuid).hosts == ["c2"]


@pytest.mark.parametrize("policy", ["soft-affinity", "soft-anti-affinity"])
def test_soft_policies_are_not_enforced_here(registry: Registry, hosts: list[str], policy: str) -> None:
    g = registry.create_group("g", policy)
    registry.add_group_member(g.uuid, new_uuid(), "c1")
    registry.add_group_member(g.uuid, new_uuid(), "c1")
    registry.add_group_member(g.uuid, new_uuid(), "c2")
    assert len(registry.get_group(g.uuid).members) == 3


def test_readding_a_member_moves_it_checked_without_itself(registry: Registry, hosts: list[str]) -> None:
    g = registry.create_group("g", "anti-affinity")
    a, b = new_uuid(), new_uuid()
    registry.add_group_member(g.uuid, a, "c1")
    registry.add_group_member(g.uuid, b, "c2")
    registry.add_group_member(g.uuid, a, "c1")  # same place: fine, it does not count against itself
    with pytest.raises(GroupPolicyViolation):
        registry.add_group_member(g.uuid, a, "c2")
    assert registry.add_group_member(g.uuid, a, "c3").members == {a: "c3", b: "c2"}


def test_an_instance_is_in_one_group(registry: Registry, hosts: list[str]) -> None:
    g1 = registry.create_group("g1", "anti-affinity")
    g2 = registry.create_group("g2", "anti-affinity")
    a = new_uuid()
    registry.add_group_member(g1.uuid, a, "c1")
    with pytest.raises(Conflict) as exc:
        registry.add_group_member(g2.uuid, a, "c1")
    assert exc.value.code == "scheduler.server_group.member_elsewhere"


def test_member_errors(registry: Registry, hosts: list[str]) -> None:
    g = registry.create_group("g", "anti-affinity")
    with pytest.raises(NotFound, match="not registered"):
        registry.add_group_member(g.uuid, new_uuid(), "ghost")
    with pytest.raises(NotFound):
        registry.add_group_member(new_uuid(), new_uuid(), "c1")
    with pytest.raises(InvalidInput):
        registry.add_group_member(g.uuid, "not-a-uuid", "c1")
    with pytest.raises(NotFound) as exc:
        registry.remove_group_member(g.uuid, new_uuid())
    assert exc.value.code == "scheduler.server_group.member_not_found"
    assert registry.get_group(g.uuid).members == {}


def test_remove_member_frees_the_host(registry: Registry, hosts: list[str]) -> None:
    g = registry.create_group("g", "anti-affinity")
    a = new_uuid()
    registry.add_group_member(g.uuid, a, "c1")
    registry.remove_group_member(g.uuid, a)
    registry.add_group_member(g.uuid, new_uuid(), "c1")


def test_moving_an_instance_moves_its_membership_under_the_policy(registry: Registry, hosts: list[str]) -> None:
    g = registry.create_group("g", "anti-affinity")
    a, b = new_uuid(), new_uuid()
    for inst, host in ((a, "c1"), (b, "c2")):
        registry.record_instance(inst, host, vcpus=1)
        registry.add_group_member(g.uuid, inst, host)
    with pytest.raises(GroupPolicyViolation):
        registry.move_instance(a, "c2")
    assert registry.get_instance(a).host == "c1"  # the move was refused as a whole
    registry.move_instance(a, "c3")
    assert registry.get_group(g.uuid).members == {a: "c3", b: "c2"}


def test_removing_an_instance_leaves_its_group(registry: Registry, hosts: list[str]) -> None:
    g = registry.create_group("g", "anti-affinity")
    a = new_uuid()
    registry.record_instance(a, "c1")
    registry.add_group_member(g.uuid, a, "c1")
    registry.remove_instance(a)
    assert registry.get_group(g.uuid).members == {}
