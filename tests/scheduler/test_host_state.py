"""HostState.consume: what it changes, and the count of changes weighing relies on."""

from __future__ import annotations

from allotment.scheduler.host_state import HostState, InstanceInfo
from tests.scheduler.filters.factories import host


def test_consume_takes_the_resources_and_the_instance_and_counts_itself() -> None:
    h = host("h", vcpus_total=8, free_ram_mb=4096, free_disk_mb=10 * 1024)
    assert h.consumed == 0
    h.consume(InstanceInfo(uuid="a", task_state="spawning"), {"VCPU": 2, "MEMORY_MB": 1024, "DISK_GB": 1})
    h.consume(InstanceInfo(uuid="b"), {})
    assert (h.vcpus_used, h.free_ram_mb, h.free_disk_mb) == (2, 3072, 9 * 1024)
    assert list(h.instances) == ["a", "b"] and h.num_io_ops == 1
    assert h.consumed == 2


def test_the_count_is_set_at_birth_and_is_not_part_of_equality_or_repr() -> None:
    a, b = HostState(host="h", nodename="h", uuid="u"), HostState(host="h", nodename="h", uuid="u")
    assert "consumed" in vars(a)  # an attribute added later would slow every HostState down
    a.consume(InstanceInfo(uuid="x"), {})
    b.instances["x"] = InstanceInfo(uuid="x")
    assert a == b and repr(a) == repr(b)
