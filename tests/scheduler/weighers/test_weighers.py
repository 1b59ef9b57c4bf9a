"""Each shipped weigher: its raw value, its multiplier option, and the order it produces on its own."""

from __future__ import annotations

import pytest

from allotment.scheduler.config import DEFAULT_WEIGHTS, SchedulerConfig
from allotment.scheduler.host_state import HostState, InstanceInfo
from allotment.scheduler.plugins import HostWeigher
from allotment.scheduler.spec import RequestSpec, ServerGroup
from allotment.scheduler.weighers.affinity import ServerGroupSoftAffinityWeigher, ServerGroupSoftAntiAffinityWeigher
from allotment.scheduler.weighers.build_failure import BuildFailureWeigher
from allotment.scheduler.weighers.load import IoOpsWeigher, NumInstancesWeigher
from allotment.scheduler.weighers.pci import PCIWeigher
from allotment.scheduler.weighers.resources import CPUWeigher, DiskWeigher, RAMWeigher
from allotment.scheduler.weighing import weigh_hosts
from tests.scheduler.filters.factories import host, spec
from tests.scheduler.topology import helpers as topo

ALL = [RAMWeigher, CPUWeigher, DiskWeigher, IoOpsWeigher, NumInstancesWeigher, ServerGroupSoftAffinityWeigher,
       ServerGroupSoftAntiAffinityWeigher, BuildFailureWeigher]


def order(weigher: HostWeigher, hosts: list[HostState], s: RequestSpec | None = None) -> list[str]:
    return [h.host for h in weigh_hosts([weigher], hosts, s or spec())]


def weights(**multipliers: float) -> SchedulerConfig:
    return SchedulerConfig(weights={**DEFAULT_WEIGHTS, **multipliers})


@pytest.mark.parametrize("cls", ALL)
def test_multiplier_option_and_default_match_the_config(cls: type[HostWeigher]) -> None:
    assert cls.multiplier_option in DEFAULT_WEIGHTS
    assert cls.default_multiplier == DEFAULT_WEIGHTS[cls.multiplier_option]


def io_busy(name: str, io: int, idle: int = 0) -> HostState:
    h = host(name)
    for i in range(io):
        h.instances[f"{name}-io{i}"] = InstanceInfo(uuid=f"{name}-io{i}", task_state="spawning")
    for i in range(idle):
        h.instances[f"{name}-idle{i}"] = InstanceInfo(uuid=f"{name}-idle{i}")
    return h


def with_devices(name: str, *, free: int) -> HostState:
    """A host with two PCI devices, ``free`` of them not held."""
    h = host(name)
    h.numa_topology = topo.host(topo.cell(0, cpus={0, 1}), devices=[topo.device(f"0000:00:0{i}.0", 0) for i in range(2)])
    h.numa_usage = topo.usage(devices=[f"0000:00:0{i}.0" for i in range(2 - free)])
    return h


GROUP_MEMBERS = ["m1", "m2", "m3"]


def group_spec(policy: str) -> RequestSpec:
    return spec(instance_group=ServerGroup(uuid="g", policy=policy, members=GROUP_MEMBERS))


SAMPLES: list[tuple[type[HostWeigher], list[HostState], RequestSpec, list[float]]] = [
    (RAMWeigher, [host("a", free_ram_mb=1024), host("b", free_ram_mb=-10)], spec(), [1024, -10]),
    (CPUWeigher, [host("a", vcpus_total=8, cpu_allocation_ratio=4.0, vcpus_used=30),
                  host("b", vcpus_total=16, vcpus_used=4)], spec(), [2.0, 12.0]),
    (DiskWeigher, [host("a", free_disk_mb=50), host("b", free_disk_mb=5000)], spec(), [50, 5000]),
    (IoOpsWeigher, [io_busy("a", 2, idle=3), io_busy("b", 0, idle=1)], spec(), [2, 0]),
    (NumInstancesWeigher, [io_busy("a", 2, idle=3), io_busy("b", 0, idle=1)], spec(), [5, 1]),
    (ServerGroupSoftAffinityWeigher, [host("a", instances=["m1", "m2", "x"]), host("b", instances=["x"])],
     group_spec("soft-affinity"), [2, 0]),
    (ServerGroupSoftAntiAffinityWeigher, [host("a", instances=["m1", "m2", "x"]), host("b", instances=["x"])],
     group_spec("soft-anti-affinity"), [-2, 0]),
    (BuildFailureWeigher, [host("a", failed_builds=3), host("b")], spec(), [3, 0]),
    (PCIWeigher, [with_devices("a", free=2), host("b"), with_devices("c", free=1)], spec(), [98.0, 100.0, 99.0]),
]


@pytest.mark.parametrize(("cls", "hosts", "s", "expected"), SAMPLES, ids=[c.__name__ for c, *_ in SAMPLES])
def test_raw_values(cls: type[HostWeigher], hosts: list[HostState], s: RequestSpec, expected: list[float]) -> None:
    weigher = cls(SchedulerConfig())
    assert [weigher.raw_weight(h, s) for h in hosts] == expected
    # the batch form weighing.py prefers gives the same values
    assert list(weigher.raw_weights(hosts, s)) == expected  # type: ignore[attr-defined]


def test_soft_affinity_weighers_ignore_other_policies_and_no_group() -> None:
    h = host("a", instances=["m1", "m2"])
    for cls in (ServerGroupSoftAffinityWeigher, ServerGroupSoftAntiAffinityWeigher):
        w = cls(SchedulerConfig())
        for s in (spec(), group_spec("affinity"), group_spec("anti-affinity")):
            assert w.raw_weight(h, s) == 0
            assert list(w.raw_weights([h], s)) == [0]  # type: ignore[attr-defined]
    assert ServerGroupSoftAffinityWeigher(SchedulerConfig()).raw_weight(h, group_spec("soft-anti-affinity")) == 0
    assert ServerGroupSoftAntiAffinityWeigher(SchedulerConfig()).raw_weight(h, group_spec("soft-affinity")) == 0


def test_soft_affinity_counts_members_whichever_side_is_larger() -> None:
    members = [f"m{i}" for i in range(50)]
    s = spec(instance_group=ServerGroup(uuid="g", policy="soft-affinity", members=members))
    small = host("small", instances=["m3", "x"])
    busy = host("busy", instances=[f"x{i}" for i in range(100)] + ["m1", "m2", "m3"])
    weigher = ServerGroupSoftAffinityWeigher(SchedulerConfig())
    assert list(weigher.raw_weights([small, busy], s)) == [1, 3]


class TestOrderWithDefaultMultipliers:
    def test_ram_cpu_disk_spread_to_the_emptiest_host(self) -> None:
        cfg = SchedulerConfig()
        assert order(RAMWeigher(cfg), [host("a", free_ram_mb=1), host("b", free_ram_mb=9)]) == ["b", "a"]
        assert order(CPUWeigher(cfg), [host("a", vcpus_total=4), host("b", vcpus_total=8)]) == ["b", "a"]
        assert order(DiskWeigher(cfg), [host("a", free_disk_mb=9), host("b", free_disk_mb=1)]) == ["a", "b"]

    def test_negative_multiplier_stacks(self) -> None:
        cfg = weights(ram_weight_multiplier=-1.0)
        assert order(RAMWeigher(cfg), [host("a", free_ram_mb=1), host("b", free_ram_mb=9)]) == ["a", "b"]

    def test_io_ops_prefers_idle_hosts(self) -> None:
        assert order(IoOpsWeigher(SchedulerConfig()), [io_busy("a", 3), io_busy("b", 1)]) == ["b", "a"]

    def test_num_instances_is_off_by_default(self) -> None:
        hosts = [io_busy("a", 0, idle=1), io_busy("b", 0, idle=9)]
        assert order(NumInstancesWeigher(SchedulerConfig()), hosts) == ["a", "b"]
        assert all(h.weight == 0 for h in hosts)
        assert order(NumInstancesWeigher(weights(num_instances_weight_multiplier=1.0)), hosts) == ["b", "a"]
        assert order(NumInstancesWeigher(weights(num_instances_weight_multiplier=-1.0)), hosts[::-1]) == ["a", "b"]

    def test_soft_affinity_packs_and_soft_anti_affinity_spreads(self) -> None:
        def hosts() -> list[HostState]:
            return [host("empty"), host("two", instances=["m1", "m2"]), host("one", instances=["m3"])]

        soft = order(ServerGroupSoftAffinityWeigher(SchedulerConfig()), hosts(), group_spec("soft-affinity"))
        assert soft == ["two", "one", "empty"]
        anti = order(ServerGroupSoftAntiAffinityWeigher(SchedulerConfig()), hosts(), group_spec("soft-anti-affinity"))
        assert anti == ["empty", "one", "two"]

    def test_build_failures_push_a_host_back_by_the_negated_multiplier(self) -> None:
        hosts = [host("bad", failed_builds=2), host("good"), host("worse", failed_builds=4)]
        assert order(BuildFailureWeigher(SchedulerConfig()), hosts) == ["good", "bad", "worse"]
        by_name = {h.host: h.weight for h in hosts}
        assert by_name == {"good": 0.0, "bad": -500000.0, "worse": -1000000.0}

    def test_build_failure_aggregate_override_is_negated_too(self) -> None:
        hosts = [host("bad", failed_builds=1, aggregates=[{"build_failure_weight_multiplier": "0"}]),
                 host("good")]
        order(BuildFailureWeigher(SchedulerConfig()), hosts)
        assert [h.weight for h in hosts] == [0.0, 0.0]
        hosts[0].aggregates[0].metadata["build_failure_weight_multiplier"] = "10"
        order(BuildFailureWeigher(SchedulerConfig()), hosts)
        assert [h.weight for h in hosts] == [-10.0, 0.0]


def test_ram_weigher_counts_overcommitted_hosts_as_empty() -> None:
    # minval 0: negative free RAM is clamped, so both overcommitted hosts tie at weight 0
    hosts = [host("a", free_ram_mb=-500), host("b", free_ram_mb=-10), host("c", free_ram_mb=1000)]
    order(RAMWeigher(SchedulerConfig()), hosts)
    assert [h.weight for h in hosts] == [0.0, 0.0, 1.0]
