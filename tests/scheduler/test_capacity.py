"""Capacity: how many instances of a flavor fit now, against real placement (in-process) and a real
registry. Examples for each rule (reserved, allocation ratio, units and step, nested and sharing
providers, disabled hosts, filters, grouping), then a property test: the count equals the number of
instances ``select_destinations`` places one after another until it answers no valid host."""

from __future__ import annotations

import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

from allotment.client import Inventory
from allotment.scheduler.capacity import CapacityAnswer, count_capacity
from allotment.scheduler.claims import as_allocations
from allotment.scheduler.errors import NoValidHost
from allotment.scheduler.spec import Flavor
from tests.scheduler.fleet import PROJECT, USER, Fleet, boot_spec, flavor, open_fleet

POOL_AGG = "5b0a4c71-8f7e-4f7e-9a43-1b8d1c6f0a11"


@pytest.fixture
def fleet(tmp_path: Path) -> Iterator[Fleet]:
    with open_fleet(tmp_path) as f:
        yield f


def capacity(fleet: Fleet, fl: Flavor, by: str | None = None, **config: Any) -> CapacityAnswer:
    s = fleet.scheduler(**config)
    return count_capacity(s.placement, s.registry, s.config, s.filters, boot_spec(fl), by=by)


def set_inventory(fleet: Fleet, rp: str, **inventories: Inventory) -> None:
    generation, _ = fleet.placement.get_inventories(rp)
    fleet.placement.set_inventories(rp, generation, inventories)


def add_traits(fleet: Fleet, rp: str, *traits: str) -> None:
    generation, current = fleet.placement.get_provider_traits(rp)
    for t in traits:
        if t.startswith("CUSTOM_"):
            fleet.placement.ensure_trait(t)
    fleet.placement.set_provider_traits(rp, generation, [*current, *traits])


def brute_force(fleet: Fleet, fl: Flavor) -> int:
    """Claim one instance after another through the scheduler until it refuses."""
    s = fleet.scheduler()
    placed = 0
    while True:
        try:
            s.select_destinations(boot_spec(fl))
        except NoValidHost:
            return placed
        placed += 1
        assert placed < 500, "runaway"


def test_flat_hosts_by_host_with_reserved_ratio_units_and_usage(fleet: Fleet) -> None:
    fleet.add_host("a", vcpus=8, memory_mb=8192)
    b = fleet.add_host("b")
    set_inventory(fleet, b, VCPU=Inventory(total=10, reserved=2, allocation_ratio=2.0),  # 16 usable
                  MEMORY_MB=Inventory(total=65536, step_size=1024, max_unit=2048),
                  DISK_GB=Inventory(total=100, reserved=90))  # 10 GiB: five 2 GiB disks
    fleet.scheduler().select_destinations(boot_spec(flavor(vcpus=2, memory_mb=1024, root_gb=2)))  # lands on b
    answer = capacity(fleet, flavor(vcpus=2, memory_mb=1024, root_gb=2), by="host")
    assert answer.exact
    # a: min(8/2, 8192/1024, 100/2) = 4; b after one instance: min(14/2, ..., 8/2) = 4.
    assert answer.groups == [{"key": "a", "instances": 4, "hosts": 1}, {"key": "b", "instances": 4, "hosts": 1}]
    assert answer.total == 8 == brute_force(fleet, flavor(vcpus=2, memory_mb=1024, root_gb=2))
    # 1536 MiB is not a multiple of b's step size (1024): only a counts.
    assert capacity(fleet, flavor(vcpus=1, memory_mb=1536), by="host").groups[1] == {
        "key": "b", "instances": 0, "hosts": 0}


def test_disabled_hosts_and_filters_count_nothing(fleet: Fleet) -> None:
    fleet.add_host("a")
    b = fleet.add_host("b")
    fleet.add_host("c")
    add_traits(fleet, b, "COMPUTE_STATUS_DISABLED")  # what the scheduler API writes through for disabled
    fleet.registry.set_host_status("c", disabled=True)
    answer = capacity(fleet, flavor(vcpus=4, memory_mb=1024))
    assert answer.total == 2 and answer.fitting_hosts == 1
    assert answer.excluded == {"filters": {"ComputeFilter": 1}, "placement": {"forbidden_trait": 1},
                               "unregistered_trees": 0}
    assert capacity(fleet, flavor(vcpus=4, memory_mb=1024), enabled_filters=[]).total == 4


def test_nested_numa_and_a_suffixed_group(fleet: Fleet) -> None:
    root = fleet.add_host("n", numa=[{"VCPU": 6, "MEMORY_MB": 4096}, {"VCPU": 4, "MEMORY_MB": 8192}])
    # The unsuffixed group draws each class from any NUMA node: 10 VCPU / 2 = 5, 12 GiB / 2 = 6.
    assert capacity(fleet, flavor(vcpus=2, memory_mb=2048)).total == 5 == brute_force(
        fleet, flavor(vcpus=2, memory_mb=2048))
    fleet.registry.refresh()
    gpu = fleet.placement.create_provider("n_gpu", parent_uuid=root)
    fleet.placement.set_inventories(gpu.uuid, gpu.generation, {"VGPU": Inventory(total=3)})
    answer = capacity(fleet, flavor(vcpus=1, memory_mb=512, extra_specs={"resources1:VGPU": "1"}))
    assert answer.total == 0  # the NUMA nodes are full


def test_sharing_provider_bounds_the_hosts_it_serves(fleet: Fleet) -> None:
    for name in ("a", "b"):
        rp = fleet.add_host(name, vcpus=16, memory_mb=16384, disk_gb=0)
        fleet.placement.set_aggregates(rp, fleet.placement.get_provider(rp).generation, [POOL_AGG])
    pool = fleet.placement.create_provider("pool")
    fleet.placement.set_inventories(pool.uuid, pool.generation, {"DISK_GB": Inventory(total=50)})
    add_traits(fleet, pool.uuid, "MISC_SHARES_VIA_AGGREGATE")
    fleet.placement.set_aggregates(pool.uuid, fleet.placement.get_provider(pool.uuid).generation, [POOL_AGG])
    answer = capacity(fleet, flavor(vcpus=1, memory_mb=512, root_gb=10), by="host")
    assert answer.exact and answer.total == 5  # the pool's 50 GiB, not 16 + 16 by VCPU
    assert sum(g["instances"] for g in answer.groups) == 5
    assert brute_force(fleet, flavor(vcpus=1, memory_mb=512, root_gb=10)) == 5


def test_by_zone_aggregate_and_cell(fleet: Fleet) -> None:
    fleet.add_host("a", vcpus=4, cell="c1")
    fleet.add_host("b", vcpus=8, cell="c1")
    fleet.add_host("c", vcpus=2, cell="c2")
    east = fleet.registry.create_aggregate("rack-east", metadata={"availability_zone": "east"})
    fleet.registry.add_aggregate_host(east.uuid, "a")
    fleet.registry.add_aggregate_host(east.uuid, "b")
    fl = flavor(vcpus=2, memory_mb=512)
    assert capacity(fleet, fl, by="az").groups == [{"key": "east", "instances": 6, "hosts": 2},
                                                   {"key": "nova", "instances": 1, "hosts": 1}]
    assert capacity(fleet, fl, by="aggregate").groups == [{"key": "(none)", "instances": 1, "hosts": 1},
                                                          {"key": "rack-east", "instances": 6, "hosts": 2}]
    assert capacity(fleet, fl, by="cell").groups == [{"key": "c1", "instances": 6, "hosts": 2},
                                                     {"key": "c2", "instances": 1, "hosts": 1}]
    with pytest.raises(ValueError, match="by must be one of"):
        capacity(fleet, fl, by="rack")


def test_required_trait_and_isolate_policy_say_whether_exact(fleet: Fleet) -> None:
    a = fleet.add_host("a")
    fleet.add_host("b")
    add_traits(fleet, a, "HW_CPU_X86_AVX2")
    fl = flavor(vcpus=2, memory_mb=1024, extra_specs={"trait:HW_CPU_X86_AVX2": "required"})
    answer = capacity(fleet, fl)
    assert answer.total == 4 and answer.exact and answer.excluded["placement"] == {"required_trait": 1}
    two = flavor(vcpus=1, memory_mb=1, root_gb=0, extra_specs={
        "resources1:VCPU": "1", "resources2:VCPU": "1", "group_policy": "isolate"})
    answer = capacity(fleet, two)
    assert not answer.exact and answer.total == 0  # one provider per host: isolate cannot be met


# ---- the property: capacity equals claim-until-refused ------------------------------------------

inventory = st.fixed_dictionaries({
    "total": st.integers(2, 16), "reserved": st.integers(0, 2), "max_unit": st.integers(2, 16),
    "step_size": st.sampled_from([1, 1, 1, 2]), "allocation_ratio": st.sampled_from([1.0, 1.0, 1.5, 2.0])})
host = st.fixed_dictionaries({
    "vcpu": inventory, "memory_units": st.integers(1, 8), "disk": st.integers(0, 40),
    "numa": st.booleans(), "avx2": st.sampled_from([False, True, True]), "disabled": st.sampled_from([None, None, None, "registry", "trait"]),
    "used_vcpu": st.integers(0, 3), "shares_disk": st.booleans()})
request = st.fixed_dictionaries({
    "vcpus": st.integers(1, 4), "memory_units": st.integers(1, 3), "root_gb": st.integers(0, 10),
    "avx2": st.sampled_from([False, False, False, True])})


def build(fleet: Fleet, hosts: list[dict[str, Any]], pool_disk: int) -> None:
    if pool_disk:
        pool = fleet.placement.create_provider("pool")
        fleet.placement.set_inventories(pool.uuid, pool.generation, {"DISK_GB": Inventory(total=pool_disk)})
        add_traits(fleet, pool.uuid, "MISC_SHARES_VIA_AGGREGATE")
        fleet.placement.set_aggregates(pool.uuid, fleet.placement.get_provider(pool.uuid).generation, [POOL_AGG])
    for i, h in enumerate(hosts):
        v = h["vcpu"]
        vcpu = Inventory(total=v["total"] + v["reserved"], reserved=v["reserved"], max_unit=v["max_unit"],
                         step_size=v["step_size"], allocation_ratio=v["allocation_ratio"])
        memory = Inventory(total=h["memory_units"] * 512, step_size=256)
        shared = bool(pool_disk) and h["shares_disk"]
        name = f"h{i}"
        root = fleet.add_host(name, disk_gb=0 if shared else h["disk"], numa=[{}, {}] if h["numa"] else ())
        if h["numa"]:
            for child in fleet.children[name]:
                set_inventory(fleet, child, VCPU=vcpu, MEMORY_MB=memory)
        else:
            current = fleet.placement.get_inventories(root)[1]
            set_inventory(fleet, root, **{**current, "VCPU": vcpu, "MEMORY_MB": memory})
        if shared:
            fleet.placement.set_aggregates(root, fleet.placement.get_provider(root).generation, [POOL_AGG])
        traits = (["HW_CPU_X86_AVX2"] if h["avx2"] else []) + (["COMPUTE_STATUS_DISABLED"]
                                                              if h["disabled"] == "trait" else [])
        if traits:
            add_traits(fleet, root, *traits)
        if h["disabled"] == "registry":
            fleet.registry.set_host_status(name, disabled=True)
        target = fleet.children[name][0] if h["numa"] else root
        used = min(h["used_vcpu"], v["max_unit"], v["total"])
        used -= used % v["step_size"]
        if used:
            fleet.placement.put_allocations(f"00000000-0000-4000-8000-{i:012d}", as_allocations(
                {target: {"resources": {"VCPU": used}}}, project_id=PROJECT, user_id=USER, consumer_type="INSTANCE"))


@settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(hosts=st.lists(host, min_size=1, max_size=4), req=request, pool_disk=st.sampled_from([0, 30]))
def test_capacity_equals_claim_until_refused(hosts: list[dict[str, Any]], req: dict[str, Any],
                                             pool_disk: int) -> None:
    extra = {"trait:HW_CPU_X86_AVX2": "required"} if req["avx2"] else {}
    fl = flavor(vcpus=req["vcpus"], memory_mb=req["memory_units"] * 256, root_gb=req["root_gb"], extra_specs=extra)
    with tempfile.TemporaryDirectory() as tmp, open_fleet(Path(tmp)) as fleet:
        build(fleet, hosts, pool_disk)
        answer = capacity(fleet, fl)
        assert answer.exact
        assert answer.total == brute_force(fleet, fl), answer.to_dict()
        # What the examples covered (pytest --hypothesis-show-statistics).
        event("fits some" if answer.total else "fits none")
        event("sharing pool" if pool_disk and any(h["shares_disk"] for h in hosts) else "no pool")
        event("nested" if any(h["numa"] for h in hosts) else "flat")


def test_the_same_scheduler_sees_every_change_between_counts(fleet: Fleet) -> None:
    # The scheduler keeps provider objects between reads of the graph: each change must still show.
    a = fleet.add_host("a", vcpus=8, memory_mb=8192)
    s = fleet.scheduler()
    fl = flavor(vcpus=2, memory_mb=1024)

    def count() -> int:
        return s.capacity(boot_spec(fl)).total

    assert count() == 4
    s.select_destinations(boot_spec(fl))
    assert count() == 3  # an allocation
    generation, inventories = fleet.placement.get_inventories(a)
    fleet.placement.set_inventories(a, generation, {**inventories, "VCPU": Inventory(total=8, reserved=4)})
    assert count() == 1  # the inventory: 4 VCPU usable, 2 used
    root = fleet.placement.get_provider(a)
    fleet.placement.set_provider_traits(a, root.generation, ["COMPUTE_STATUS_DISABLED"])
    assert count() == 0  # the traits


def test_required_traits_count_on_the_providers_that_serve(fleet: Fleet) -> None:
    # The trait is on the root; VCPU and memory come from the NUMA nodes. Only when the
    # request also takes disk from the root is the trait on a provider of the allocation.
    root = fleet.add_host("n", numa=[{"VCPU": 4, "MEMORY_MB": 4096}, {"VCPU": 4, "MEMORY_MB": 4096}])
    add_traits(fleet, root, "HW_CPU_X86_AVX2")
    without_disk = flavor(vcpus=1, memory_mb=1024, root_gb=0, extra_specs={"trait:HW_CPU_X86_AVX2": "required"})
    with_disk = flavor(vcpus=1, memory_mb=1024, root_gb=1, extra_specs={"trait:HW_CPU_X86_AVX2": "required"})
    assert capacity(fleet, without_disk).total == 0 == brute_force(fleet, without_disk)
    assert capacity(fleet, with_disk).total == 8 == brute_force(fleet, with_disk)
