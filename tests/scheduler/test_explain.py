"""Explained refusals: a NoValidHost carries, per request group, what ruled each host out, the filters'
counts and the nearest misses, judged against real placement (in-process) and a real registry.

One test per kind of reason (resource class, amount, required and forbidden trait, aggregate,
tree shape, host filter, claims of the same request), then the REST answer, the service client
and placement's extension route against its standard-route fallback.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from allotment.client import Inventory
from allotment.scheduler.api.app import create_app
from allotment.scheduler.client import SchedulerClient
from allotment.scheduler.errors import NoValidHost
from allotment.scheduler.provider_graph import GraphCache, ProviderGraph
from allotment.scheduler.service import Scheduler
from allotment.scheduler.spec import Destination, RequestSpec
from tests.scheduler.fleet import Fleet, boot_spec, flavor, open_fleet


@pytest.fixture
def fleet(tmp_path: Path) -> Iterator[Fleet]:
    with open_fleet(tmp_path) as f:
        f.add_host("a", vcpus=8, memory_mb=8192)
        f.add_host("b", vcpus=4, memory_mb=4096)
        f.add_host("c", vcpus=16, memory_mb=2048)
        yield f


def refusal(scheduler: Scheduler, spec: RequestSpec) -> dict[str, Any]:
    with pytest.raises(NoValidHost) as info:
        scheduler.select_destinations(spec)
    assert info.value.explanation is not None
    return info.value.explanation


def group(explanation: dict[str, Any], suffix: str = "") -> dict[str, Any]:
    return next(g for g in explanation["groups"] if g["suffix"] == suffix)


def misses(explanation: dict[str, Any]) -> list[tuple[str, list[str]]]:
    return [(m["host"], [lk["detail"] for lk in m["lacks"]]) for m in explanation["nearest_misses"]]


def test_amount_counts_per_class_and_the_nearest_misses_in_order(fleet: Fleet) -> None:
    explanation = refusal(fleet.scheduler(), boot_spec(flavor(vcpus=12, memory_mb=4096)))
    assert explanation["hosts"] == 3 and explanation["offered_by_placement"] == 0
    g = group(explanation)
    assert g["resources"] == {"VCPU": 12, "MEMORY_MB": 4096, "DISK_GB": 1}
    assert g["fit"] == 0
    assert g["ruled_out"] == {"amount": {"hosts": 3, "by": {"VCPU": 2, "MEMORY_MB": 1}}}
    # a misses by 4 of 12 VCPU, c by half its memory, b by 8 of 12 VCPU.
    assert misses(explanation) == [("a", ["VCPU: needs 12, 8 free"]), ("c", ["MEMORY_MB: needs 4096, 2048 free"]),
                                   ("b", ["VCPU: needs 12, 4 free"])]


def test_amount_counts_what_is_used_reserved_and_the_unit_rules(fleet: Fleet) -> None:
    root = fleet.roots["c"]
    generation, _ = fleet.placement.get_inventories(root)
    fleet.placement.set_inventories(root, generation, {
        "VCPU": Inventory(total=16, max_unit=4), "MEMORY_MB": Inventory(total=65536, reserved=65000),
        "DISK_GB": Inventory(total=100, step_size=10)})
    explanation = refusal(fleet.scheduler(), boot_spec(flavor(vcpus=10, memory_mb=1024, root_gb=5)))
    (c,) = [m for m in explanation["nearest_misses"] if m["host"] == "c"]
    assert sorted(lk["detail"] for lk in c["lacks"]) == [
        "DISK_GB: 5 is refused by the unit rules (min_unit 1, max_unit 2147483647, step_size 10)",
        "MEMORY_MB: needs 1024, 536 free",
        "VCPU: 10 is refused by the unit rules (min_unit 1, max_unit 4, step_size 1)"]


def test_resource_class_nobody_has(fleet: Fleet) -> None:
    explanation = refusal(fleet.scheduler(), boot_spec(flavor(extra_specs={"resources:VGPU": "1"})))
    assert group(explanation)["ruled_out"] == {"resource_class": {"hosts": 3, "by": {"VGPU": 3}}}
    assert all(lacks == ["no provider has VGPU"] for _, lacks in misses(explanation))


def test_required_trait_and_what_else_the_host_with_it_lacks(fleet: Fleet) -> None:
    root = fleet.roots["b"]
    fleet.placement.set_provider_traits(root, fleet.placement.get_provider(root).generation, ["HW_CPU_X86_AVX2"])
    spec = boot_spec(flavor(vcpus=6, extra_specs={"trait:HW_CPU_X86_AVX2": "required"}))
    explanation = refusal(fleet.scheduler(), spec)
    g = group(explanation)
    assert g["required"] == ["HW_CPU_X86_AVX2"]
    assert g["ruled_out"] == {"required_trait": {"hosts": 2, "by": {"HW_CPU_X86_AVX2": 2}},
                              "amount": {"hosts": 1, "by": {"VCPU": 1}}}
    assert misses(explanation)[0] == ("b", ["VCPU: needs 6, 4 free"])


def test_forbidden_trait_and_disabled_hosts(fleet: Fleet) -> None:
    for name in ("a", "c"):
        root = fleet.roots[name]
        fleet.placement.set_provider_traits(root, fleet.placement.get_provider(root).generation,
                                            ["COMPUTE_STATUS_DISABLED"])
    root = fleet.roots["b"]
    fleet.placement.ensure_trait("CUSTOM_SLOW")
    fleet.placement.set_provider_traits(root, fleet.placement.get_provider(root).generation, ["CUSTOM_SLOW"])
    spec = boot_spec(flavor(extra_specs={"trait:CUSTOM_SLOW": "forbidden"}))
    explanation = refusal(fleet.scheduler(), spec)
    assert group(explanation)["ruled_out"] == {"forbidden_trait": {"hosts": 1, "by": {"CUSTOM_SLOW": 1}}}
    request = explanation["request"]
    assert request["root_forbidden"] == ["COMPUTE_STATUS_DISABLED"]
    assert request["fit"] == 1
    assert request["ruled_out"] == {"forbidden_trait": {"hosts": 2, "by": {"COMPUTE_STATUS_DISABLED": 2}}}
    details = dict(misses(explanation))
    assert details["a"] == ["the host is disabled (forbidden trait COMPUTE_STATUS_DISABLED)"]
    assert details["b"] == ["has forbidden trait CUSTOM_SLOW"]


def test_aggregate(fleet: Fleet) -> None:
    east = "2f0f3a55-8b7e-4d0e-9c55-7f1a1f0e6a01"
    root = fleet.roots["b"]
    fleet.placement.set_aggregates(root, fleet.placement.get_provider(root).generation, [east])
    spec = dataclasses.replace(boot_spec(flavor(vcpus=6)), requested_destination=Destination(aggregates=[east]))
    explanation = refusal(fleet.scheduler(), spec)
    g = group(explanation)
    assert g["member_of"] == [east]
    assert g["ruled_out"] == {"aggregate": {"hosts": 2, "by": {east: 2}}, "amount": {"hosts": 1, "by": {"VCPU": 1}}}
    assert misses(explanation)[0] == ("b", ["VCPU: needs 6, 4 free"])
    assert ("a", [f"not in aggregate {east}"]) in misses(explanation)


def test_tree_shape_one_provider_must_hold_a_whole_group(tmp_path: Path) -> None:
    with open_fleet(tmp_path) as fleet:
        # VCPU on one NUMA node, memory on the other: a suffixed group wants both from one provider.
        fleet.add_host("n", numa=[{"VCPU": 8}, {"MEMORY_MB": 8192}])
        spec = boot_spec(flavor(extra_specs={"resources1:VCPU": "1", "resources1:MEMORY_MB": "512"}))
        explanation = refusal(fleet.scheduler(), spec)
        assert group(explanation, "1")["ruled_out"] == {"tree": {"hosts": 1, "by": {"MEMORY_MB,VCPU": 1}}}
        assert group(explanation, "")["fit"] == 1  # the root's DISK_GB
        assert misses(explanation) == [("n", ["no one provider has all of MEMORY_MB, VCPU"])]


def test_filters_say_how_many_hosts_each_removed_and_which(fleet: Fleet) -> None:
    fleet.registry.set_host_status("a", disabled=True)
    fleet.registry.set_host_status("b", disabled=True)
    explanation = refusal(fleet.scheduler(), boot_spec(flavor(vcpus=1, memory_mb=4096)))
    assert group(explanation)["fit"] == 2  # placement offered a and b (c has 2 GiB)
    assert explanation["offered_by_placement"] == 2
    assert explanation["filters"][0] == {"filter": "ComputeFilter", "before": 2, "after": 0, "removed": 2}
    # c lacks half the memory asked for; a and b lack nothing but what the filter checks.
    assert misses(explanation) == [("c", ["MEMORY_MB: needs 4096, 2048 free"]), ("a", ["removed by ComputeFilter"]),
                                   ("b", ["removed by ComputeFilter"])]


def test_not_enough_hosts_says_the_request_took_the_room(fleet: Fleet) -> None:
    # 8 VCPU and 1 GiB: a takes one instance, c two (its memory), b none; the fourth has nowhere to go.
    explanation = refusal(fleet.scheduler(), boot_spec(flavor(vcpus=8, memory_mb=1024), num_instances=4))
    details = dict(misses(explanation))
    assert details["a"] == details["c"] == ["no room left: took an earlier instance of this request"]
    assert details["b"] == ["VCPU: needs 8, 4 free"]
    assert fleet.total_usage() == {"a": {}, "b": {}, "c": {}}  # all or nothing, as before


def test_rest_answer_and_service_client_carry_the_explanation(fleet: Fleet) -> None:
    app = create_app(fleet.registry, scheduler=fleet.scheduler())
    spec = boot_spec(flavor(vcpus=12, memory_mb=4096)).to_dict()
    with httpx.Client(transport=httpx.WSGITransport(app=app), base_url="http://scheduler") as http:
        resp = http.post("/select_destinations", json={"request_spec": spec})
        assert resp.status_code == 409
        (error,) = resp.json()["errors"]
        assert error["code"] == "scheduler.no_valid_host"
        assert error["explanation"]["groups"][0]["ruled_out"]["amount"]["hosts"] == 3
        with pytest.raises(NoValidHost) as info:
            SchedulerClient(http).select_destinations(spec)
    def same(e: dict[str, Any]) -> dict[str, Any]:
        return {k: v for k, v in e.items() if k != "explain_ms"}  # two calls: the same answer, not the same time

    assert info.value.explanation is not None and same(info.value.explanation) == same(error["explanation"])


def test_provider_graph_extension_equals_the_standard_routes(fleet: Fleet) -> None:
    east = "2f0f3a55-8b7e-4d0e-9c55-7f1a1f0e6a01"
    root = fleet.roots["a"]
    fleet.placement.set_aggregates(root, fleet.placement.get_provider(root).generation, [east])
    fleet.placement.set_provider_traits(root, fleet.placement.get_provider(root).generation, ["HW_CPU_X86_AVX2"])
    fleet.scheduler().select_destinations(boot_spec(flavor(vcpus=2)))

    def by_uuid(entries: list[dict[str, Any]]) -> dict[str, Any]:
        return {e["uuid"]: {**e, "traits": sorted(e["traits"])} for e in entries}

    extension = by_uuid(fleet.placement.provider_graph())
    assert extension == by_uuid(fleet.placement.provider_graph_from_standard_routes())
    assert extension[root]["aggregates"] == [east] and extension[root]["usages"]


def _view(graph: ProviderGraph) -> dict[str, Any]:
    """What explanations read of a graph, in a form two graphs compare by."""
    alike, apart = graph.alike()
    return {"host_roots": sorted(graph.host_roots), "sharing": sorted(p.uuid for p in graph.sharing),
            "trees": {root: [(p.uuid, p.parent, p.signature) for p in members]
                      for root, members in graph.trees.items()},
            "alike": sorted(sorted(roots) for roots in alike.values()), "apart": sorted(apart)}


def test_a_kept_graph_follows_placement_change_by_change_as_a_whole_read_does(fleet: Fleet) -> None:
    cache = GraphCache()

    def follows() -> ProviderGraph:
        kept = cache.fetch(fleet.placement)
        assert _view(kept) == _view(ProviderGraph.from_json(fleet.placement.provider_graph()))
        return kept

    first = follows()
    assert _view(first)["alike"] == sorted([[fleet.roots["a"]], [fleet.roots["b"]], [fleet.roots["c"]]])
    fleet.add_host("d", vcpus=4, memory_mb=4096)  # like b: one group of two
    assert sorted([fleet.roots["b"], fleet.roots["d"]]) in _view(follows())["alike"]
    # A claim changes one host's usage only: the trees' shape and the host roots are carried over.
    before = follows()
    fleet.scheduler().select_destinations(boot_spec(flavor(vcpus=3, memory_mb=4096)))  # only a or b or d
    after = follows()
    assert after is not before and after.host_roots is before.host_roots
    fleet.placement.set_provider_traits(fleet.roots["c"], fleet.placement.get_provider(fleet.roots["c"]).generation,
                                        ["HW_CPU_X86_AVX2"])
    follows()
    fleet.add_host("e", numa=[{"VCPU": 4, "MEMORY_MB": 2048}] * 2)  # a tree of three: judged apart
    assert _view(follows())["apart"] == [fleet.roots["e"]]
    fleet.placement.delete_provider(fleet.roots["d"])
    assert fleet.roots["d"] not in follows().providers


def test_one_scheduler_explains_as_a_fresh_one_after_placement_changed(fleet: Fleet) -> None:
    kept = fleet.scheduler()
    too_big = boot_spec(flavor(vcpus=12, memory_mb=4096))

    def same(e: dict[str, Any]) -> dict[str, Any]:
        return {k: v for k, v in e.items() if k != "explain_ms"}

    refusal(kept, too_big)
    fleet.add_host("d", vcpus=10, memory_mb=8192)
    kept.select_destinations(boot_spec(flavor(vcpus=2)))
    fleet.placement.set_provider_traits(fleet.roots["a"], fleet.placement.get_provider(fleet.roots["a"]).generation,
                                        ["HW_CPU_X86_AVX2"])
    explanation = refusal(kept, too_big)
    assert explanation["hosts"] == 4
    assert same(explanation) == same(refusal(fleet.scheduler(), too_big))


def test_hosts_alike_count_each_and_the_nearest_are_the_least_uuids_then_names(fleet: Fleet) -> None:
    names = fleet.add_hosts(20, vcpus=4, memory_mb=4096)  # judged once, counted twenty times
    explanation = refusal(fleet.scheduler(), boot_spec(flavor(vcpus=12, memory_mb=4096)))
    assert group(explanation)["ruled_out"] == {"amount": {"hosts": 23, "by": {"VCPU": 22, "MEMORY_MB": 1}}}
    # a (8 free) and c (the memory) miss by less; then the twenty tie with b: of the twelve least
    # uuids, by name.
    tied = sorted([fleet.roots[n] for n in [*names, "b"]])[:12 - 2]
    by_name = fleet.host_names()
    expected = ["a", "c", sorted(by_name[u] for u in tied)[0]]
    assert [m["host"] for m in explanation["nearest_misses"]] == expected
