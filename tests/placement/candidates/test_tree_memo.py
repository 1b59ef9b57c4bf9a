"""Trees of one shape share a search: the answer found at one is replayed, position for position, at the others."""

from __future__ import annotations

from typing import Any

import pytest

from allotment.placement.candidates import backtrack
from allotment.placement.candidates.model import ReadModel
from allotment.placement.candidates.request import CandidateGroup
from tests.placement.candidates.scenarios import Scenario
from tests.placement.candidates.test_engine import compute, run
from tests.placement.candidates.test_property import build_model

TREES = 12


def _model(*, busy_tree: int | None = None) -> ReadModel:
    provs = []
    for n in range(TREES):
        tree = compute(n, numa=2, gpus_per_numa=3, vgpu=2)
        if n == busy_tree:
            tree[3].used = {"VGPU": 2}  # one GPU of this tree is full: a tree of another shape
        provs += tree
    return build_model(Scenario(provs, []))


def _answer(model: ReadModel, groups: list[CandidateGroup], **kwargs: Any) -> list[Any]:
    result = run(model, groups, **kwargs)
    return [(c.anchor, [(r.uuid, rc, a) for r, rc, a in c.parts],
             sorted((s, [r.uuid for r in recs]) for s, recs in c.mappings.items()),
             {r.root_id for r, _, _ in c.parts}) for c in result.candidates]


GROUPS = [
    CandidateGroup("_NUMA", {"VCPU": 1}, required=[frozenset({"HW_NUMA_ROOT"})]),
    CandidateGroup("_G1", {"VGPU": 1}),
    CandidateGroup("_G2", {"VGPU": 2}),
]


@pytest.mark.parametrize("busy_tree", [None, 5])
def test_replayed_answers_equal_searched_ones(busy_tree: int | None, monkeypatch: pytest.MonkeyPatch) -> None:
    model = _model(busy_tree=busy_tree)
    kwargs: dict[str, Any] = {"same_subtrees": [frozenset({"_NUMA", "_G1", "_G2"})], "group_policy": "isolate"}
    replayed = _answer(model, GROUPS, **kwargs)
    monkeypatch.setattr(backtrack, "MEMO_MAX", 0)  # every tree searched
    searched = _answer(model, GROUPS, **kwargs)
    assert replayed == searched
    # Each candidate lies in its anchor's tree, and every tree answers (the busy one with fewer).
    assert all(roots == {anchor} for anchor, _, _, roots in replayed)
    counts = [sum(1 for c in replayed if c[0] == a) for a in sorted({c[0] for c in replayed})]
    assert len(counts) == TREES
    assert (len(set(counts)) == 1) == (busy_tree is None)


def test_a_tree_shape_is_searched_once() -> None:
    model = _model()
    kwargs: dict[str, Any] = {"same_subtrees": [frozenset({"_NUMA", "_G1", "_G2"})], "group_policy": "isolate"}
    one = run(build_model(Scenario(compute(0, numa=2, gpus_per_numa=3, vgpu=2), [])), GROUPS, **kwargs)
    many = run(model, GROUPS, **kwargs)
    assert len(many.candidates) == TREES * len(one.candidates) > 0
    assert many.work.placements == one.work.placements  # the other eleven trees were replayed


def test_a_limit_stops_the_replay_early_and_the_next_request_is_whole() -> None:
    model = _model()
    kwargs: dict[str, Any] = {"same_subtrees": [frozenset({"_NUMA", "_G1", "_G2"})], "group_policy": "isolate"}
    full = _answer(model, GROUPS, **kwargs)
    assert _answer(model, GROUPS, limit=3, **kwargs) == full[:3]
    assert _answer(model, GROUPS, **kwargs) == full


def test_an_anchor_with_more_candidates_than_kept_is_searched_at_every_tree(monkeypatch: pytest.MonkeyPatch) -> None:
    model = _model()
    kwargs: dict[str, Any] = {"same_subtrees": [frozenset({"_NUMA", "_G1", "_G2"})], "group_policy": "isolate"}
    full = run(model, GROUPS, **kwargs)
    monkeypatch.setattr(backtrack, "MEMO_MAX", 1)
    capped = run(model, GROUPS, **kwargs)
    assert [c.parts for c in capped.candidates] == [c.parts for c in full.candidates]
    assert capped.work.placements > full.work.placements
