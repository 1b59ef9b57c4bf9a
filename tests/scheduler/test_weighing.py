"""weigh_hosts (normalisation, multipliers, aggregate overrides, order) and pick (subset, shuffle)."""

from __future__ import annotations

import dataclasses
import random
from importlib.metadata import entry_points
from typing import ClassVar

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from allotment.scheduler.config import DEFAULT_WEIGHERS, DEFAULT_WEIGHTS, SchedulerConfig
from allotment.scheduler.host_state import HostState, InstanceInfo
from allotment.scheduler.plugins import WEIGHER_GROUP, HostWeigher, load_weighers
from allotment.scheduler.spec import RequestSpec, ServerGroup
from allotment.scheduler.weighing import RequestWeighing, pick, weigh_hosts
from tests.scheduler.filters.factories import host, spec


class Stat(HostWeigher):
    """Weighs by ``stats["w"]`` with one value per host; no batch method, so the per-host path is used."""

    multiplier_option: ClassVar[str] = "stat_weight_multiplier"

    def raw_weight(self, host: HostState, spec: RequestSpec) -> float:
        return float(host.stats["w"])


class BoundedStat(Stat):
    minval: ClassVar[float | None] = 0.0
    maxval: ClassVar[float | None] = 100.0


class PerHostMultiplier(Stat):
    """A multiplier read from the host itself: weighing must ask for every host, not once per aggregate set."""

    def weight_multiplier(self, host: HostState) -> float:
        return float(host.stats.get("m", 1))


def stat_hosts(*values: float) -> list[HostState]:
    return [host(f"h{i}", stats={"w": str(v)}) for i, v in enumerate(values)]


def config(**weights: float) -> SchedulerConfig:
    return SchedulerConfig(weights={**DEFAULT_WEIGHTS, **weights})


def by_name(hosts: list[HostState]) -> dict[str, float]:
    return {h.host: h.weight for h in hosts}


def test_values_are_normalised_between_min_and_max() -> None:
    hosts = stat_hosts(10, 20, 30, 15)
    ranked = weigh_hosts([Stat(config())], hosts, spec())
    assert [h.host for h in ranked] == ["h2", "h1", "h3", "h0"]
    assert by_name(hosts) == {"h0": 0.0, "h1": 0.5, "h2": 1.0, "h3": 0.25}


def test_all_equal_values_normalise_to_zero() -> None:
    hosts = stat_hosts(7, 7, 7)
    ranked = weigh_hosts([Stat(config(stat_weight_multiplier=5.0))], hosts, spec())
    assert [h.weight for h in ranked] == [0.0, 0.0, 0.0]
    assert [h.host for h in ranked] == ["h0", "h1", "h2"]


def test_class_bounds_replace_the_observed_min_and_max_and_clamp() -> None:
    hosts = stat_hosts(25, 50, 150, -5)
    weigh_hosts([BoundedStat(config())], hosts, spec())
    assert by_name(hosts) == {"h0": 0.25, "h1": 0.5, "h2": 1.0, "h3": 0.0}


def test_bounds_can_make_equal_values_count() -> None:
    hosts = stat_hosts(50, 50)
    weigh_hosts([BoundedStat(config())], hosts, spec())
    assert [h.weight for h in hosts] == [0.5, 0.5]


def test_multiplier_scales_and_a_negative_one_reverses() -> None:
    hosts = stat_hosts(0, 10)
    ranked = weigh_hosts([Stat(config(stat_weight_multiplier=-3.0))], hosts, spec())
    assert [h.host for h in ranked] == ["h0", "h1"]
    assert by_name(hosts) == {"h0": 0.0, "h1": -3.0}


def test_multiplier_missing_from_config_uses_the_class_default() -> None:
    hosts = stat_hosts(0, 10)
    weigh_hosts([Stat(SchedulerConfig(weights={}))], hosts, spec())
    assert by_name(hosts)["h1"] == Stat.default_multiplier


def test_aggregate_metadata_overrides_the_multiplier_per_host() -> None:
    hosts = stat_hosts(0, 10, 10, 10)
    hosts[1].aggregates = host("x", aggregates=[{"stat_weight_multiplier": "-2"}]).aggregates
    hosts[2].aggregates = host("y", aggregates=[{"stat_weight_multiplier": "4"}, {"stat_weight_multiplier": "3"}]
                               ).aggregates
    hosts[3].aggregates = host("z", aggregates=[{"stat_weight_multiplier": "oops"}]).aggregates
    ranked = weigh_hosts([Stat(config(stat_weight_multiplier=1.0))], hosts, spec())
    # h2: the smallest override (3); h3: a malformed override is ignored (config 1); h1: -2
    assert by_name(hosts) == {"h0": 0.0, "h1": -2.0, "h2": 3.0, "h3": 1.0}
    assert [h.host for h in ranked] == ["h2", "h3", "h0", "h1"]


def test_hosts_sharing_aggregates_share_the_override() -> None:
    shared = host("x", aggregates=[{"stat_weight_multiplier": "2"}]).aggregates
    hosts = stat_hosts(0, 5, 10)
    for h in hosts:
        h.aggregates = list(shared)
    weigh_hosts([Stat(config())], hosts, spec())
    assert by_name(hosts) == {"h0": 0.0, "h1": 1.0, "h2": 2.0}


class CountingStat(Stat):
    """Stat that counts the hosts it was asked to weigh."""

    asked = 0

    def raw_weight(self, host: HostState, spec: RequestSpec) -> float:
        self.asked += 1
        return super().raw_weight(host, spec)


def test_a_weigher_multiplied_by_zero_everywhere_is_not_asked() -> None:
    hosts = stat_hosts(0, 10, 20)
    off = CountingStat(config(stat_weight_multiplier=0.0))
    weigh_hosts([off], hosts, spec())
    assert off.asked == 0 and by_name(hosts) == {"h0": 0.0, "h1": 0.0, "h2": 0.0}
    # An aggregate turning it on for one host is still honoured.
    hosts[2].aggregates = host("x", aggregates=[{"stat_weight_multiplier": "2"}]).aggregates
    weigh_hosts([off], hosts, spec())
    assert off.asked == 3 and by_name(hosts) == {"h0": 0.0, "h1": 0.0, "h2": 2.0}


def test_a_weigher_with_its_own_multiplier_is_asked_for_every_host() -> None:
    hosts = stat_hosts(0, 10, 10)
    hosts[1].stats["m"] = "-1"
    weigh_hosts([PerHostMultiplier(config())], hosts, spec())
    assert by_name(hosts) == {"h0": 0.0, "h1": -1.0, "h2": 1.0}


def test_weighers_add_up() -> None:
    hosts = [host("ram", free_ram_mb=100, free_disk_mb=0), host("disk", free_ram_mb=0, free_disk_mb=100),
             host("both", free_ram_mb=60, free_disk_mb=60)]
    weighers = load_weighers(SchedulerConfig(enabled_weighers=["RAMWeigher", "DiskWeigher"]))
    ranked = weigh_hosts(weighers, hosts, spec())
    assert [h.host for h in ranked] == ["both", "ram", "disk"]
    assert by_name(hosts) == pytest.approx({"ram": 1.0, "disk": 1.0, "both": 1.2})


def test_weights_are_reset_before_weighing() -> None:
    hosts = stat_hosts(0, 10)
    hosts[0].weight = 99.0
    weigh_hosts([Stat(config())], hosts, spec())
    weigh_hosts([Stat(config())], hosts, spec())
    assert by_name(hosts) == {"h0": 0.0, "h1": 1.0}
    assert [h.weight for h in weigh_hosts([], hosts, spec())] == [0.0, 0.0]


def test_ties_keep_the_input_order() -> None:
    hosts = stat_hosts(5, 9, 5, 9, 5)
    ranked = weigh_hosts([Stat(config())], hosts, spec())
    assert [h.host for h in ranked] == ["h1", "h3", "h0", "h2", "h4"]


def test_one_host_or_none() -> None:
    lone = stat_hosts(5)
    lone[0].weight = 3.0
    assert weigh_hosts([Stat(config())], lone, spec()) == lone and lone[0].weight == 0.0
    assert weigh_hosts([Stat(config())], [], spec()) == []


def test_every_shipped_weigher_loads_by_name() -> None:
    names = sorted(ep.name for ep in entry_points(group=WEIGHER_GROUP))
    assert set(DEFAULT_WEIGHERS) <= set(names)
    loaded = load_weighers(SchedulerConfig(enabled_weighers=names))
    assert [w.name() for w in loaded] == names
    for w in loaded:
        assert w.multiplier_option in DEFAULT_WEIGHTS


def test_default_weighers_rank_a_realistic_fleet() -> None:
    # an empty, healthy host beats a full one, and a host that keeps failing builds goes last
    empty = host("empty", free_ram_mb=64000, vcpus_total=32, free_disk_mb=10**6)
    full = host("full", free_ram_mb=2000, vcpus_total=32, vcpus_used=30, free_disk_mb=10**4)
    failing = host("failing", free_ram_mb=64000, vcpus_total=32, free_disk_mb=10**6, failed_builds=3)
    ranked = weigh_hosts(load_weighers(SchedulerConfig()), [full, failing, empty], spec())
    assert [h.host for h in ranked] == ["empty", "full", "failing"]


class TestPick:
    def weighed(self, *weights: float) -> list[HostState]:
        hosts = [host(f"h{i}") for i in range(len(weights))]
        for h, w in zip(hosts, weights):
            h.weight = w
        return hosts

    def test_defaults_keep_the_order(self) -> None:
        hosts = self.weighed(3, 3, 2, 1)
        assert pick(hosts, SchedulerConfig(), random.Random(1)) == hosts
        assert pick([], SchedulerConfig(), random.Random(1)) == []

    def test_subset_size_picks_among_the_top_n_and_keeps_the_rest_in_order(self) -> None:
        hosts = self.weighed(5, 4, 3, 2, 1)
        cfg = SchedulerConfig(host_subset_size=3)
        firsts = set()
        for seed in range(40):
            picked = pick(hosts, cfg, random.Random(seed))
            firsts.add(picked[0].host)
            rest = [h for h in hosts if h is not picked[0]]
            assert picked[1:] == rest
        assert firsts == {"h0", "h1", "h2"}

    def test_subset_choice_follows_the_rng(self) -> None:
        hosts = self.weighed(5, 4, 3, 2, 1)
        cfg = SchedulerConfig(host_subset_size=3)
        expected = hosts[random.Random(7).randrange(3)]
        assert pick(hosts, cfg, random.Random(7))[0] is expected

    def test_subset_larger_than_the_list_and_nonsense_sizes(self) -> None:
        hosts = self.weighed(2, 1)
        assert {pick(hosts, SchedulerConfig(host_subset_size=10), random.Random(s))[0].host for s in range(30)} == {
            "h0", "h1"}
        assert pick(hosts, SchedulerConfig(host_subset_size=0), random.Random(1)) == hosts

    def test_shuffle_moves_only_the_best_tied_hosts(self) -> None:
        hosts = self.weighed(9, 9, 9, 9, 5, 5, 1)
        cfg = SchedulerConfig(shuffle_best_same_weighed_hosts=True)
        orders = set()
        for seed in range(30):
            picked = pick(hosts, cfg, random.Random(seed))
            assert picked[4:] == hosts[4:]
            assert {h.host for h in picked[:4]} == {"h0", "h1", "h2", "h3"}
            orders.add(tuple(h.host for h in picked[:4]))
        assert len(orders) > 5

    def test_shuffle_is_reproducible_with_a_seeded_rng(self) -> None:
        hosts = self.weighed(9, 9, 9, 9, 1)
        cfg = SchedulerConfig(shuffle_best_same_weighed_hosts=True, host_subset_size=2)
        assert pick(hosts, cfg, random.Random(42)) == pick(hosts, cfg, random.Random(42))

    def test_input_is_not_modified(self) -> None:
        hosts = self.weighed(9, 9, 9, 1)
        before = list(hosts)
        pick(hosts, SchedulerConfig(shuffle_best_same_weighed_hosts=True, host_subset_size=3), random.Random(3))
        assert hosts == before


def test_weighing_a_thousand_hosts_matches_the_plain_definition() -> None:
    """Over 1,000 varied hosts and every default weigher, the weights are those of the definition
    (per host: raw value, clamped, scaled between the extremes, times the host's multiplier,
    summed), whatever shortcuts the weighing takes (batch raw_weights, multipliers per aggregate
    set); the order is by weight, ties in input order. Speed is the bench's business."""
    rng = random.Random(5)
    group = ServerGroup(uuid="g", policy="soft-anti-affinity", members=[f"h{i}-0" for i in range(0, 1000, 7)])
    hosts = []
    for i in range(1000):
        h = host(f"h{i}", free_ram_mb=rng.randint(0, 500_000), vcpus_total=64, vcpus_used=rng.randint(0, 64),
                 free_disk_mb=rng.randint(0, 10**7), failed_builds=rng.choice([0] * 30 + [1]),
                 aggregates=[{"availability_zone": f"az{i % 3}", "ram_weight_multiplier": str(i % 3)}]
                 if i % 2 else [])
        for k in range(20):
            h.instances[f"h{i}-{k}"] = InstanceInfo(uuid=f"h{i}-{k}", task_state=rng.choice([None] * 9 + ["spawning"]))
        hosts.append(h)
    weighers = load_weighers(SchedulerConfig())
    assert len(weighers) == 9
    s = spec(instance_group=group)

    expected = [0.0] * len(hosts)
    for weigher in weighers:
        raw = [weigher.raw_weight(h, s) for h in hosts]
        if weigher.minval is not None:
            raw = [max(weigher.minval, v) for v in raw]
        if weigher.maxval is not None:
            raw = [min(weigher.maxval, v) for v in raw]
        low = weigher.minval if weigher.minval is not None else min(raw)
        high = weigher.maxval if weigher.maxval is not None else max(raw)
        if high == low:
            continue
        for i, h in enumerate(hosts):
            expected[i] += weigher.weight_multiplier(h) * (raw[i] - low) / (high - low)

    ordered = weigh_hosts(weighers, hosts, s)
    assert sorted(map(id, ordered)) == sorted(map(id, hosts))  # every host once
    assert [h.weight for h in hosts] == pytest.approx(expected, rel=1e-9, abs=1e-12)
    position = {id(h): i for i, h in enumerate(hosts)}
    assert ordered == sorted(hosts, key=lambda h: (-h.weight, position[id(h)]))
    assert len({round(w, 9) for w in expected}) > 100  # the hosts really differ


_AGGREGATE_SETS = [[], [{"ram_weight_multiplier": "2"}], [{"io_ops_weight_multiplier": "-3"}, {"x": "y"}],
                   [{"cpu_weight_multiplier": "bad"}]]
_host_values = st.tuples(
    st.integers(0, 64_000), st.integers(0, 16), st.integers(0, 10**6), st.integers(0, 2),
    st.lists(st.sampled_from([None, "spawning", "rebuilding"]), max_size=4), st.integers(0, len(_AGGREGATE_SETS) - 1),
)


def _fleet(values: list[tuple[int, int, int, int, list[str | None], int]]) -> list[HostState]:
    hosts = []
    for i, (ram, used, disk, failed, states, aggs) in enumerate(values):
        h = host(f"h{i}", free_ram_mb=ram, vcpus_total=16, vcpus_used=used, free_disk_mb=disk,
                 failed_builds=failed, aggregates=[dict(m) for m in _AGGREGATE_SETS[aggs]])
        if aggs:  # hosts of one aggregate set share its aggregates, as the registry hands them out
            h.aggregates = [dataclasses.replace(a, uuid=f"agg-{aggs}-{k}") for k, a in enumerate(h.aggregates)]
        for k, task_state in enumerate(states):
            h.instances[f"h{i}-{k}"] = InstanceInfo(uuid=f"h{i}-{k}", task_state=task_state)
        hosts.append(h)
    return hosts


@settings(max_examples=60, deadline=None)
@given(values=st.lists(_host_values, min_size=2, max_size=12), count=st.integers(1, 6),
       drops=st.lists(st.booleans(), min_size=6, max_size=6), soft=st.booleans(), seed=st.integers(0, 1000))
def test_instances_of_one_request_weigh_as_a_fresh_weighing_would(
        values: list[tuple[int, int, int, int, list[str | None], int]], count: int, drops: list[bool], soft: bool,
        seed: int) -> None:
    """Placing several instances one by one (weigh with the request's shared groups, consume the best
    host, sometimes lose a host to a filter) gives the weights and order of weighing fresh copies of
    the hosts each time: nothing kept between instances goes stale."""
    rng = random.Random(seed)
    weighers = load_weighers(config(num_instances_weight_multiplier=-1.0))
    hosts = _fleet(values)
    shared = RequestWeighing()
    members: list[str] = []
    for index in range(count):
        policy = "soft-anti-affinity" if soft else "soft-affinity"
        s = spec(instance_group=ServerGroup(uuid="g", policy=policy, members=list(members)))
        fresh = [dataclasses.replace(h, instances=dict(h.instances), aggregates=list(h.aggregates)) for h in hosts]
        expected = weigh_hosts(weighers, fresh, s)
        ordered = weigh_hosts(weighers, hosts, s, shared)
        assert [h.host for h in ordered] == [h.host for h in expected]
        assert [h.weight for h in ordered] == [h.weight for h in expected]  # exactly, not approximately
        best = ordered[0]
        uuid = f"new-{index}"
        best.consume(InstanceInfo(uuid=uuid, task_state=rng.choice([None, "spawning"])),
                     {"VCPU": 1, "MEMORY_MB": rng.choice([0, 512]), "DISK_GB": 1})
        members.append(uuid)
        if drops[index] and len(hosts) > 2:
            hosts = [h for h in hosts if h is not ordered[-1]]  # a filter removed a host for the next one


class CountingRAM(HostWeigher):
    """Free RAM, declared to depend on the host alone; counts the hosts it was asked about."""

    multiplier_option: ClassVar[str] = "ram_weight_multiplier"
    raw_from_host_only: ClassVar[bool] = True
    asked: ClassVar[list[str]] = []

    def raw_weights(self, hosts: list[HostState], spec: RequestSpec) -> list[float]:
        self.asked.extend(h.host for h in hosts)
        return [h.free_ram_mb for h in hosts]


class SpecRAM(CountingRAM):
    """Inherits the declaration but reads the spec: it must be asked every time."""

    def raw_weights(self, hosts: list[HostState], spec: RequestSpec) -> list[float]:
        self.asked.extend(h.host for h in hosts)
        return [h.free_ram_mb - spec.flavor.memory_mb for h in hosts]


def test_a_host_only_weigher_is_asked_again_only_about_the_consumed_host() -> None:
    hosts = [host(f"h{i}", free_ram_mb=1000 * (i + 1)) for i in range(4)]
    weigher, shared = CountingRAM(config()), RequestWeighing()
    CountingRAM.asked = []
    assert [h.host for h in weigh_hosts([weigher], hosts, spec(), shared)][0] == "h3"
    hosts[3].consume(InstanceInfo(uuid="i1"), {"MEMORY_MB": 3500})
    assert [h.host for h in weigh_hosts([weigher], hosts, spec(), shared)][:2] == ["h2", "h1"]
    assert CountingRAM.asked == ["h0", "h1", "h2", "h3", "h3"]
    weigh_hosts([weigher], hosts[1:], spec(), shared)  # another host list: asked about every host
    assert CountingRAM.asked[5:] == ["h1", "h2", "h3"]


def test_the_declaration_is_not_inherited() -> None:
    hosts = [host(f"h{i}", free_ram_mb=1000 * (i + 1)) for i in range(3)]
    weigher, shared = SpecRAM(config()), RequestWeighing()
    CountingRAM.asked = []
    weigh_hosts([weigher], hosts, spec(), shared)
    weigh_hosts([weigher], hosts, spec(), shared)
    assert len(CountingRAM.asked) == 6
