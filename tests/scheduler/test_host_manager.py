"""merge_candidates against real placement answers (allotment.client.direct) and a real registry."""

from __future__ import annotations

import logging
import uuid as uuidlib
from collections.abc import Iterator
from dataclasses import dataclass

import pytest

from allotment.client import direct
from allotment.client.client import PlacementClient
from allotment.client.models import Allocations, Inventory
from allotment.scheduler.host_manager import candidate_hosts, merge_candidates
from allotment.scheduler.registry import Registry


@dataclass
class Cloud:
    placement: PlacementClient
    registry: Registry
    a: str  # root of host "a": VCPU 8 (ratio 4), RAM, disk; child GPU provider with 2 VGPU
    a_gpu: str
    b: str  # root of host "b": RAM and disk; VCPU on two NUMA children (4 each)
    b_numa: tuple[str, str]
    stray: str  # a compute root that is not a registered host


def _provider(pc: PlacementClient, name: str, inventories: dict[str, Inventory], parent: str | None = None) -> str:
    rp = pc.create_provider(name, parent_uuid=parent)
    pc.set_inventories(rp.uuid, rp.generation, inventories)
    return rp.uuid


@pytest.fixture
def cloud(tmp_path) -> Iterator[Cloud]:  # type: ignore[no-untyped-def]
    url = f"sqlite:///{tmp_path}/cloud.sqlite"
    with direct(url) as pc, Registry.open(url) as registry:
        a = _provider(pc, "a", {"VCPU": Inventory(8, allocation_ratio=4.0), "MEMORY_MB": Inventory(4096, reserved=512),
                                "DISK_GB": Inventory(100)})
        a_gpu = _provider(pc, "a-gpu", {"VGPU": Inventory(2)}, parent=a)
        b = _provider(pc, "b", {"MEMORY_MB": Inventory(8192), "DISK_GB": Inventory(200)})
        b_numa = (_provider(pc, "b-numa0", {"VCPU": Inventory(4)}, parent=b),
                  _provider(pc, "b-numa1", {"VCPU": Inventory(4)}, parent=b))
        stray = _provider(pc, "stray", {"VCPU": Inventory(64), "MEMORY_MB": Inventory(65536), "DISK_GB": Inventory(500),
                                        "VGPU": Inventory(8)})
        pc.put_allocations(str(uuidlib.uuid4()), Allocations(
            {a: {"VCPU": 2, "MEMORY_MB": 1024, "DISK_GB": 10}}, project_id="p", user_id="u", consumer_type="INSTANCE"))
        registry.register_host("a", a)
        registry.register_host("b", b)
        yield Cloud(pc, registry, a, a_gpu, b, b_numa, stray)


def test_hosts_get_tree_sums_and_their_own_candidates(cloud: Cloud, caplog: pytest.LogCaptureFixture) -> None:
    answer = cloud.placement.allocation_candidates({"resources": "VCPU:1,MEMORY_MB:256,DISK_GB:1"})
    states = cloud.registry.host_states([cloud.a, cloud.b, cloud.stray])
    assert set(states) == {cloud.a, cloud.b}
    with caplog.at_level(logging.DEBUG, logger="allotment.scheduler.host_manager"):
        merged = merge_candidates(states, answer)
    assert cloud.stray in caplog.text  # dropped, and said so

    order = []
    for ar in answer["allocation_requests"]:
        root = answer["provider_summaries"][next(iter(ar["allocations"]))]["root_provider_uuid"]
        if root not in order and root != cloud.stray:
            order.append(root)
    assert [h.uuid for h in merged] == order  # placement's order

    a, b = states[cloud.a], states[cloud.b]
    assert (a.vcpus_total, a.vcpus_used, a.cpu_allocation_ratio) == (32, 2, 1.0)  # capacity includes the ratio
    assert (a.total_usable_ram_mb, a.free_ram_mb, a.ram_allocation_ratio) == (3584, 2560, 1.0)  # reserved 512
    assert (a.total_usable_disk_gb, a.free_disk_mb, a.disk_allocation_ratio) == (100, 90 * 1024, 1.0)
    assert (b.vcpus_total, b.vcpus_used) == (8, 0)  # summed over both NUMA children
    assert (b.total_usable_ram_mb, b.free_ram_mb, b.total_usable_disk_gb) == (8192, 8192, 200)

    expected_b = [ar for ar in answer["allocation_requests"] if cloud.b in ar["allocations"]]
    assert len(expected_b) == 2 and b.allocation_candidates == expected_b
    assert {rp for ar in b.allocation_candidates for rp in ar["allocations"]} == {cloud.b, *cloud.b_numa}
    assert all(set(ar["allocations"]) == {cloud.a} for ar in a.allocation_candidates)
    assert all("mappings" in ar for ar in a.allocation_candidates + b.allocation_candidates)


def test_a_child_gpu_candidate_lands_on_its_root_host(cloud: Cloud) -> None:
    answer = cloud.placement.allocation_candidates({"resources": "VCPU:1", "resources1": "VGPU:1"})
    merged = merge_candidates(cloud.registry.host_states(), answer)
    assert [h.host for h in merged] == ["a"]
    (request,) = merged[0].allocation_candidates
    assert request["allocations"][cloud.a_gpu]["resources"] == {"VGPU": 1}
    assert request["mappings"]["1"] == [cloud.a_gpu]
    assert merged[0].vcpus_total == 32


def test_no_candidates_and_unregistered_only(cloud: Cloud) -> None:
    assert merge_candidates(cloud.registry.host_states(), {"allocation_requests": [], "provider_summaries": {}}) == []
    only_stray = cloud.placement.allocation_candidates({"resources": "VGPU:4"})
    assert only_stray["allocation_requests"]
    assert merge_candidates(cloud.registry.host_states(), only_stray) == []


def test_consume_after_merge_counts_against_the_figures(cloud: Cloud) -> None:
    from allotment.scheduler.host_state import InstanceInfo

    answer = cloud.placement.allocation_candidates({"resources": "VCPU:1,MEMORY_MB:256,DISK_GB:1"})
    states = cloud.registry.host_states()
    merge_candidates(states, answer)
    a = states[cloud.a]
    a.consume(InstanceInfo(str(uuidlib.uuid4())), {"VCPU": 2, "MEMORY_MB": 512, "DISK_GB": 5})
    assert (a.vcpus_used, a.free_ram_mb, a.free_disk_mb) == (4, 2048, 85 * 1024)


def test_candidate_hosts_makes_the_states_merge_candidates_fills(cloud: Cloud) -> None:
    answer = cloud.placement.allocation_candidates({"resources": "VCPU:1,MEMORY_MB:256,DISK_GB:1"})
    asked: list[set[str]] = []

    def build(figures):  # type: ignore[no-untyped-def]
        asked.append(set(figures))
        return cloud.registry.host_states(figures, figures=figures)

    made = candidate_hosts(build, answer)
    merged = merge_candidates(cloud.registry.host_states(), answer)
    assert asked == [{cloud.a, cloud.b, cloud.stray}]  # the summarised roots, asked for once
    assert [vars(h) for h in made] == [vars(h) for h in merged]
    a = made[0] if made[0].uuid == cloud.a else made[1]
    assert (a.vcpus_total, a.vcpus_used, a.free_ram_mb, a.free_disk_mb) == (32, 2, 2560, 90 * 1024)
    assert candidate_hosts(build, {"allocation_requests": [], "provider_summaries": {}}) == []
