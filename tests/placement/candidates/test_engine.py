"""The search on wide, symmetric trees: bounded work and memory, limit, strategies, max candidates."""

from __future__ import annotations

import tracemalloc
import uuid as uuidlib
from typing import Any

import pytest

from allotment.placement.candidates.engine import search
from allotment.placement.candidates.model import ReadModel
from allotment.placement.candidates.request import CandidateGroup, CandidateRequest
from tests.placement.candidates.scenarios import Prov, Scenario
from tests.placement.candidates.test_property import build_model

CLASSES = {"VCPU", "MEMORY_MB", "VGPU", "DISK_GB"}
TRAITS = {"HW_NUMA_ROOT", "MISC_SHARES_VIA_AGGREGATE", "CUSTOM_A", "CUSTOM_B", "HW_CPU_X86_AVX2"}


def inv(total: int, max_unit: int | None = None) -> dict[str, Any]:
    return {
        "total": total,
        "reserved": 0,
        "min_unit": 1,
        "max_unit": max_unit or total,
        "step_size": 1,
        "allocation_ratio": 1.0,
    }


def compute(n: int, *, numa: int = 4, gpus_per_numa: int = 8, vgpu: int = 1, tag: str = "") -> list[Prov]:
    """A compute node, ``numa`` NUMA nodes (VCPU, MEMORY_MB) each with identical GPUs (VGPU)."""
    out = []
    root = Prov(f"cn{n}{tag}", str(uuidlib.uuid4()), None, {"DISK_GB": inv(100)})
    out.append(root)
    for k in range(numa):
        node = Prov(
            f"cn{n}{tag}-numa{k}",
            str(uuidlib.uuid4()),
            root.uuid,
            {"VCPU": inv(16), "MEMORY_MB": inv(32768)},
            traits=["HW_NUMA_ROOT"],
        )
        out.append(node)
        for g in range(gpus_per_numa):
            out.append(Prov(f"cn{n}{tag}-numa{k}-gpu{g}", str(uuidlib.uuid4()), node.uuid, {"VGPU": inv(vgpu)}))
    return out


def run(model: ReadModel, groups: list[CandidateGroup], **kwargs: Any) -> Any:
    options = {k: kwargs.pop(k) for k in ("max_candidates", "strategy", "nested_aware") if k in kwargs}
    creq = CandidateRequest(groups=groups, **kwargs)
    with model.lock:
        return search(model, creq, known_classes=CLASSES, known_traits=TRAITS, **options)


def gpu_groups(n: int, amount: int = 1) -> list[CandidateGroup]:
    return [CandidateGroup(f"_G{i}", {"VGPU": amount}) for i in range(n)]


@pytest.fixture(scope="module")
def one_node() -> ReadModel:
    return build_model(Scenario(compute(0), []))


@pytest.mark.parametrize("policy", ["none", "isolate"])
def test_limit_bounds_an_explosive_request(one_node: ReadModel, policy: str) -> None:
    # 32 identical GPUs, 8 single-GPU groups: 32^8 (none) or 32!/24! (isolate) combinations.
    groups = [CandidateGroup("", {"VCPU": 1})] + gpu_groups(8)
    tracemalloc.start()
    result = run(one_node, groups, group_policy=policy, limit=10)
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    assert len(result.candidates) == 10
    # Work in proportion to what is kept: a few placements per candidate, not 32^8 combinations.
    assert result.work.anchors == 1
    assert result.work.placements <= 10 * 9 * 2
    assert peak < 20 * 2**20
    for cand in result.candidates:
        gpus = [recs[0].id for s, recs in cand.mappings.items() if s.startswith("_G")]
        assert len(gpus) == 8
        if policy == "isolate":
            assert len(set(gpus)) == 8


def test_larger_limit_stays_cheap(one_node: ReadModel) -> None:
    groups = [CandidateGroup("", {"VCPU": 1})] + gpu_groups(16)
    tracemalloc.start()
    result = run(one_node, groups, group_policy="isolate", limit=1000)
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    assert len(result.candidates) == 1000
    assert result.work.placements <= 1000 * 17 * 2
    assert peak < 64 * 2**20


def test_max_allocation_candidates_bounds_without_limit(one_node: ReadModel) -> None:
    result = run(one_node, [CandidateGroup("", {"VCPU": 1})] + gpu_groups(6), group_policy="none", max_candidates=50)
    assert len(result.candidates) == 50
    # Upstream adds one candidate before it compares with the maximum, so 0 yields one.
    result = run(one_node, [CandidateGroup("", {"VCPU": 1})] + gpu_groups(2), group_policy="none", max_candidates=0)
    assert len(result.candidates) == 1


@pytest.mark.parametrize("policy", ["none", "isolate"])
def test_infeasible_requests_are_refuted_quickly(one_node: ReadModel, policy: str) -> None:
    # More single-VGPU groups than there are VGPUs (each GPU holds one): refuted before any placement.
    result = run(one_node, gpu_groups(33), group_policy=policy)
    assert result.candidates == []
    assert result.work.placements == 0
    # Nine GPUs under one NUMA node, which has eight: refuted after a handful of placements.
    numa = CandidateGroup("_NUMA", required=[frozenset({"HW_NUMA_ROOT"})])
    groups = [numa, *gpu_groups(9)]
    subtree = [frozenset(g.suffix for g in groups)]
    result = run(one_node, groups, group_policy=policy, same_subtrees=subtree)
    assert result.candidates == []
    assert result.work.placements <= len(groups) * 4


def test_same_subtree_over_identical_gpus(one_node: ReadModel) -> None:
    numa = CandidateGroup("_NUMA", required=[frozenset({"HW_NUMA_ROOT"})])
    groups = [numa, *gpu_groups(8)]
    subtree = [frozenset(g.suffix for g in groups)]
    result = run(one_node, groups, group_policy="isolate", same_subtrees=subtree, limit=5)
    assert len(result.candidates) == 5
    provs = one_node.providers
    for cand in result.candidates:
        (node,) = cand.mappings["_NUMA"]
        assert all(provs[r.id].parent_id == node.id for s, recs in cand.mappings.items() if s != "_NUMA" for r in recs)


def test_unlimited_answer_is_complete(one_node: ReadModel) -> None:
    # 4 isolated GPUs out of the 8 under NUMA 0: 8*7*6*5 ordered choices.
    node0 = next(p for p in one_node.providers.values() if p.parent_id is not None and p.traits)
    groups = [CandidateGroup(f"_G{i}", {"VGPU": 1}, in_tree=None) for i in range(4)]
    numa = CandidateGroup("_NUMA", required=[frozenset({"HW_NUMA_ROOT"})])
    subtree = [frozenset({"_NUMA", *(g.suffix for g in groups)})]
    result = run(one_node, [numa, *groups], group_policy="isolate", same_subtrees=subtree)
    assert len(result.candidates) == 4 * 8 * 7 * 6 * 5
    assert node0 is not None


def test_breadth_first_spreads_over_roots() -> None:
    provs = compute(0, gpus_per_numa=2) + compute(1, gpus_per_numa=2) + compute(2, gpus_per_numa=2)
    model = build_model(Scenario(provs, []))
    groups = [CandidateGroup("", {"VCPU": 1})] + gpu_groups(2)
    deep = run(model, groups, group_policy="none", limit=6)
    wide = run(model, groups, group_policy="none", limit=6, strategy="breadth-first")
    assert len({c.anchor for c in deep.candidates}) == 1
    assert len({c.anchor for c in wide.candidates}) == 3
    # The summaries cover exactly the trees the kept candidates use.
    assert {r.root_id for r in wide.summaries} == {c.anchor for c in wide.candidates}
    assert len(wide.summaries) == 3 * (1 + 4 + 8)
    # max_allocation_candidates cuts the generation the same way.
    wide = run(model, groups, group_policy="none", max_candidates=3, strategy="breadth-first")
    assert [c.anchor for c in wide.candidates] == sorted({c.anchor for c in wide.candidates})


def test_many_roots_limit_stops_early() -> None:
    provs = []
    for n in range(2000):
        provs.append(Prov(f"flat{n}", str(uuidlib.uuid4()), None, {"VCPU": inv(8), "MEMORY_MB": inv(1024)}))
    model = build_model(Scenario(provs, []))
    result = run(model, [CandidateGroup("", {"VCPU": 1, "MEMORY_MB": 64})], limit=5)
    assert len(result.candidates) == 5 and len(result.summaries) == 5
    assert result.work.anchors == 5, "the walk stops at the limit"
    assert len(run(model, [CandidateGroup("", {"VCPU": 1, "MEMORY_MB": 64})]).candidates) == 2000


def test_old_microversion_drops_same_tree_combinations(one_node: ReadModel) -> None:
    """Before 1.29 a candidate may not use two providers of one tree; summaries list used providers."""
    result = run(one_node, [CandidateGroup("", {"VCPU": 1, "VGPU": 1})], nested_aware=False)
    assert result.candidates == []
    result = run(one_node, [CandidateGroup("", {"VGPU": 1})], nested_aware=False)
    assert len(result.candidates) == 32
    assert {r.id for r in result.summaries} == {c.parts[0][0].id for c in result.candidates}
