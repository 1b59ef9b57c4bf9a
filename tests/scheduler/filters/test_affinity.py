"""SameHostFilter, DifferentHostFilter, ServerGroupAffinityFilter, ServerGroupAntiAffinityFilter."""

from __future__ import annotations

from allotment.scheduler.filters.affinity import (
    DifferentHostFilter,
    SameHostFilter,
    ServerGroupAffinityFilter,
    ServerGroupAntiAffinityFilter,
)
from allotment.scheduler.spec import ServerGroup
from tests.scheduler.filters.factories import config, host, spec

SAME = SameHostFilter(config())
DIFFERENT = DifferentHostFilter(config())
AFFINITY = ServerGroupAffinityFilter(config())
ANTI = ServerGroupAntiAffinityFilter(config())


def test_same_host_needs_one_of_the_instances() -> None:
    s = spec(scheduler_hints={"same_host": ["i1", "i9"]})
    assert SAME.host_passes(host(instances=["i1", "i2"]), s)
    assert not SAME.host_passes(host(instances=["i2"]), s)
    assert not SAME.host_passes(host(), s)


def test_same_host_without_hint_passes() -> None:
    assert SAME.host_passes(host(), spec())
    assert SAME.host_passes(host(), spec(scheduler_hints={"same_host": []}))


def test_different_host_refuses_hosts_with_any_listed_instance() -> None:
    s = spec(scheduler_hints={"different_host": ["i1", "i9"]})
    assert not DIFFERENT.host_passes(host(instances=["i1", "i2"]), s)
    assert DIFFERENT.host_passes(host(instances=["i2"]), s)
    assert DIFFERENT.host_passes(host(), spec())


def test_hints_given_as_a_single_string_work() -> None:
    same: dict = {"same_host": "i1"}
    different: dict = {"different_host": "i1"}
    assert SAME.host_passes(host(instances=["i1"]), spec(scheduler_hints=same))
    assert not DIFFERENT.host_passes(host(instances=["i1"]), spec(scheduler_hints=different))


def test_hint_filters_run_once_per_request_and_group_filters_every_time() -> None:
    assert SameHostFilter.run_filter_once_per_request and DifferentHostFilter.run_filter_once_per_request
    assert not ServerGroupAffinityFilter.run_filter_once_per_request
    assert not ServerGroupAntiAffinityFilter.run_filter_once_per_request


def group(policy: str, *, members: list[str] | None = None, hosts: list[str] | None = None,
          rules: dict[str, int] | None = None) -> ServerGroup:
    return ServerGroup(uuid="g1", policy=policy, members=members or [], hosts=hosts or [], rules=rules or {})


class TestAffinity:
    def test_no_group_or_other_policy_passes(self) -> None:
        assert AFFINITY.host_passes(host("b"), spec())
        assert AFFINITY.host_passes(host("b"), spec(instance_group=group("anti-affinity", hosts=["a"])))
        assert AFFINITY.host_passes(host("b"), spec(instance_group=group("soft-affinity", hosts=["a"])))

    def test_first_member_goes_anywhere(self) -> None:
        assert AFFINITY.host_passes(host("b"), spec(instance_group=group("affinity")))

    def test_later_members_go_where_the_group_is(self) -> None:
        s = spec(instance_group=group("affinity", members=["m1"], hosts=["a"]))
        assert AFFINITY.host_passes(host("a", instances=["m1"]), s)
        assert not AFFINITY.host_passes(host("b"), s)

    def test_moving_member_passes_its_current_host(self) -> None:
        s = spec(instance_group=group("affinity", members=["m1"], hosts=["a"]), instance_uuid="m1")
        assert AFFINITY.host_passes(host("c", instances=["m1"]), s)


class TestAntiAffinity:
    def test_no_group_or_other_policy_passes(self) -> None:
        h = host(instances=["m1"])
        assert ANTI.host_passes(h, spec())
        assert ANTI.host_passes(h, spec(instance_group=group("affinity", members=["m1"])))
        assert ANTI.host_passes(h, spec(instance_group=group("soft-anti-affinity", members=["m1"])))

    def test_host_with_a_member_fails_by_default(self) -> None:
        s = spec(instance_group=group("anti-affinity", members=["m1", "m2"]))
        assert not ANTI.host_passes(host(instances=["m1", "x"]), s)
        assert ANTI.host_passes(host(instances=["x"]), s)

    def test_max_server_per_host(self) -> None:
        s = spec(instance_group=group("anti-affinity", members=["m1", "m2", "m3"], rules={"max_server_per_host": 2}))
        assert ANTI.host_passes(host(instances=["m1"]), s)
        assert not ANTI.host_passes(host(instances=["m1", "m2"]), s)

    def test_moving_member_passes_its_current_host(self) -> None:
        s = spec(instance_group=group("anti-affinity", members=["m1", "m2"]), instance_uuid="m1")
        assert ANTI.host_passes(host(instances=["m1"]), s)
        # another member elsewhere still blocks that host
        assert not ANTI.host_passes(host(instances=["m2"]), s)
