"""HostState.num_io_ops: counted once, kept up to date by consume, counted again after other changes."""

from __future__ import annotations

from allotment.scheduler.host_state import HostState, InstanceInfo, io_ops
from tests.scheduler.filters.factories import host


def busy(uuid: str) -> InstanceInfo:
    return InstanceInfo(uuid=uuid, task_state="spawning")


def idle(uuid: str) -> InstanceInfo:
    return InstanceInfo(uuid=uuid)


def test_consume_keeps_the_count() -> None:
    h = host("h", instances=["a"])
    h.instances["b"] = busy("b")
    assert h.num_io_ops == 1
    h.consume(busy("c"), {})
    h.consume(idle("d"), {})
    assert h.num_io_ops == 2 == io_ops(h.instances)


def test_consume_replacing_a_record_counts_the_new_one_only() -> None:
    h = host("h")
    h.instances["a"] = busy("a")
    assert h.num_io_ops == 1
    h.consume(idle("a"), {})
    assert h.num_io_ops == 0
    h.consume(busy("a"), {})
    assert h.num_io_ops == 1 == io_ops(h.instances)


def test_instances_added_or_replaced_outside_consume_are_counted_again() -> None:
    h = host("h")
    assert h.num_io_ops == 0
    h.instances["a"] = busy("a")  # the way tests and builders fill a host
    assert h.num_io_ops == 1
    h.instances = {"x": busy("x"), "y": busy("y")}
    assert h.num_io_ops == 2
    h.consume(busy("z"), {})
    assert h.num_io_ops == 3


def test_the_count_is_not_part_of_equality_or_repr() -> None:
    a, b = HostState(host="h", nodename="h", uuid="u"), HostState(host="h", nodename="h", uuid="u")
    assert a.num_io_ops == 0
    assert a == b and repr(a) == repr(b)
