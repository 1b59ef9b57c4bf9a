"""Property: the engine answers what a brute-force enumeration of the rules answers.

Random small graphs (compute trees with nested children, sharing providers in
aggregates, random inventories, usages, traits and aggregates) and random
queries (an unsuffixed group and/or up to two suffixed ones, required, any-of and
forbidden traits, member_of and forbidden aggregates, in_tree, group_policy,
same_subtree with resourceless groups, root_required). ``reference`` below
enumerates every assignment of every group's resources to every provider and
keeps those the rules allow; the answers are compared as sets of allocation
requests (with mappings) plus the set of providers in the summaries, without
``limit``.

The rules are those of upstream Placement (checked against the real upstream
server by ``upstream_diff``), except for two upstream bugs we do not copy (see
``upstream_diff._quirk``).
"""

from __future__ import annotations

import itertools
from typing import Any

import httpx
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from allotment.infra.database import Database
from allotment.placement.api.app import make_app
from allotment.placement.candidates import backtrack as backtrack_mod
from allotment.placement.candidates.engine import search
from allotment.placement.candidates.model import ClassCapacity, ProviderRecord, ReadModel
from allotment.placement.candidates.request import CandidateGroup, CandidateRequest
from allotment.placement.config import Config
from tests.conftest import ADMIN, reset
from tests.placement.candidates.scenarios import (
    CLASSES,
    SHARING,
    TRAITS,
    HypothesisDraw,
    Prov,
    Query,
    Scenario,
    gen_query,
    gen_scenario,
    load_scenario,
)

Answer = tuple[frozenset[Any], frozenset[str]]


# ---- the reference ------------------------------------------------------------------------------


def reference(scn: Scenario, q: Query) -> Answer:
    provs = scn.by_uuid()
    parent = {p.uuid: p.parent for p in scn.providers}

    def root(u: str) -> str:
        while parent[u] is not None:
            u = parent[u]  # type: ignore[assignment]
        return u

    def ancestors(u: str) -> set[str]:
        out = {u}
        while parent[u] is not None:
            u = parent[u]  # type: ignore[assignment]
            out.add(u)
        return out

    def fits(p: Prov, rc: str, amount: int) -> bool:
        inv = p.inv.get(rc)
        if inv is None:
            return False
        cap = (inv["total"] - inv["reserved"]) * inv["allocation_ratio"]
        return (
            inv["min_unit"] <= amount <= inv["max_unit"]
            and amount % inv["step_size"] == 0
            and p.used.get(rc, 0) + amount <= cap
        )

    def anchors_of(p: Prov) -> set[str]:
        return {root(x.uuid) for x in scn.providers if set(x.aggs) & set(p.aggs)}

    def in_member_of(p: Prov, member_of: list[list[str]]) -> bool:
        return all(set(p.aggs) & set(any_of) for any_of in member_of)

    roots = [p.uuid for p in scn.providers if p.parent is None]
    anchors = [
        r
        for r in roots
        if set(q.root_required) <= set(provs[r].traits) and not set(q.root_forbidden) & set(provs[r].traits)
    ]
    for g in q.groups:
        if g.in_tree is not None and g.in_tree not in provs:
            return frozenset(), frozenset()

    # Slots: (group, resource class or None, amounts); the unsuffixed group has one per class.
    results: set[Any] = set()
    for a in anchors:
        slot_options: list[list[str]] = []
        slots: list[tuple[Any, dict[str, int]]] = []
        for g in q.groups:
            tree_root = root(g.in_tree) if g.in_tree else None
            if not g.suffix:
                for rc, amount in g.resources.items():
                    opts = []
                    for p in scn.providers:
                        local = root(p.uuid) == a and (tree_root is None or root(p.uuid) == tree_root)
                        shared = (
                            tree_root is None
                            and SHARING in p.traits
                            and a in anchors_of(p)
                            and (not g.member_of or in_member_of(p, g.member_of))
                        )
                        if not (local or shared):
                            continue
                        if not fits(p, rc, amount) or set(p.traits) & set(g.forbidden):
                            continue
                        if set(p.aggs) & set(g.forbidden_aggs) or set(provs[a].aggs) & set(g.forbidden_aggs):
                            continue
                        if g.member_of and not (in_member_of(p, g.member_of) or in_member_of(provs[a], g.member_of)):
                            continue
                        opts.append(p.uuid)
                    slots.append((g, {rc: amount}))
                    slot_options.append(opts)
            else:
                opts = []
                for p in scn.providers:
                    if not (root(p.uuid) == a or (SHARING in p.traits and a in anchors_of(p))):
                        continue
                    if not all(fits(p, rc, n) for rc, n in g.resources.items()):
                        continue
                    if g.resources and tree_root is not None and root(p.uuid) != tree_root:
                        continue
                    if not all(set(p.traits) & set(any_of) for any_of in g.required):
                        continue
                    if set(p.traits) & set(g.forbidden) or set(p.aggs) & set(g.forbidden_aggs):
                        continue
                    if g.member_of and not in_member_of(p, g.member_of):
                        continue
                    opts.append(p.uuid)
                slots.append((g, dict(g.resources)))
                slot_options.append(opts)
        for choice in itertools.product(*slot_options):
            # unsuffixed traits, collectively
            un = [c for (g, _), c in zip(slots, choice, strict=True) if not g.suffix]
            ug = next((g for g in q.groups if not g.suffix), None)
            if ug is not None:
                have = set().union(*(provs[c].traits for c in un))
                if not all(have & set(any_of) for any_of in ug.required):
                    continue
            granular = [(g.suffix, c) for (g, _), c in zip(slots, choice, strict=True) if g.suffix]
            if q.group_policy == "isolate" and len({c for _, c in granular}) != len(granular):
                continue
            ok = True
            for subtree in q.same_subtrees:
                members = {c for s, c in granular if s in subtree}
                if not any(all(m in ancestors(o) for o in members) for m in members):
                    ok = False
            totals: dict[tuple[str, str], int] = {}
            for (_, amounts), c in zip(slots, choice, strict=True):
                for rc, n in amounts.items():
                    totals[(c, rc)] = totals.get((c, rc), 0) + n
            for (c, rc), n in totals.items():
                inv = provs[c].inv[rc]
                if provs[c].used.get(rc, 0) + n > int((inv["total"] - inv["reserved"]) * inv["allocation_ratio"]):
                    ok = False
                if n > inv["max_unit"]:
                    ok = False
            if not ok:
                continue
            mappings: dict[str, set[str]] = {}
            for (g, _), c in zip(slots, choice, strict=True):
                mappings.setdefault(g.suffix, set()).add(c)
            results.add(
                (
                    frozenset((c, rc, n) for (c, rc), n in totals.items()),
                    frozenset((s, frozenset(v)) for s, v in mappings.items()),
                )
            )
    used_roots = {root(c) for parts, _ in results for c, _, _ in parts}
    return frozenset(results), frozenset(p.uuid for p in scn.providers if root(p.uuid) in used_roots)


# ---- the engine on a model built in memory --------------------------------------------------------


def build_model(scn: Scenario) -> ReadModel:
    model = ReadModel(store=None)  # type: ignore[arg-type]
    ids = {p.uuid: i + 1 for i, p in enumerate(scn.providers)}
    parent = {p.uuid: p.parent for p in scn.providers}

    def root(u: str) -> str:
        while parent[u] is not None:
            u = parent[u]  # type: ignore[assignment]
        return u

    trait_order = {t: i for i, t in enumerate((SHARING, *TRAITS))}
    records = {}
    for p in scn.providers:
        rec = ProviderRecord(ids[p.uuid], p.uuid, 0, ids[p.parent] if p.parent else None, ids[root(p.uuid)])
        rec.inv = {
            rc: ClassCapacity(
                i["total"], i["reserved"], i["min_unit"], i["max_unit"], i["step_size"], i["allocation_ratio"]
            )
            for rc, i in p.inv.items()
        }
        rec.used = dict(p.used)
        rec.trait_list = tuple(sorted(p.traits, key=lambda t: (trait_order.get(t, len(trait_order)), t)))
        rec.traits = frozenset(p.traits)
        rec.sharing = SHARING in p.traits
        rec.aggs = frozenset(p.aggs)
        records[rec.id] = rec
    model.apply(records)
    model.loaded = True
    return model


def to_request(q: Query) -> CandidateRequest:
    return CandidateRequest(
        groups=[
            CandidateGroup(
                suffix=g.suffix,
                resources=dict(g.resources),
                required=[frozenset(a) for a in g.required],
                forbidden=frozenset(g.forbidden),
                member_of=[frozenset(a) for a in g.member_of],
                forbidden_aggs=frozenset(g.forbidden_aggs),
                in_tree=g.in_tree,
            )
            for g in q.groups
        ],
        limit=q.limit,
        group_policy=q.group_policy,
        root_required=frozenset(q.root_required),
        root_forbidden=frozenset(q.root_forbidden),
        same_subtrees=[frozenset(s) for s in q.same_subtrees],
    )


def engine_answer(model: ReadModel, q: Query, **kwargs: Any) -> Answer:
    with model.lock:
        result = search(
            model,
            to_request(q),
            known_classes=set(CLASSES),
            known_traits=set(TRAITS) | {SHARING},
            **kwargs,
        )
    reqs = frozenset(
        (
            frozenset((rec.uuid, rc, n) for rec, rc, n in c.parts),
            frozenset((s, frozenset(r.uuid for r in recs)) for s, recs in c.mappings.items()),
        )
        for c in result.candidates
    )
    assert len(reqs) == len(result.candidates), "duplicate candidates"
    return reqs, frozenset(rec.uuid for rec in result.summaries)


@st.composite
def scenario_and_queries(draw: Any) -> tuple[Scenario, list[Query]]:
    d = HypothesisDraw(draw)
    scn = gen_scenario(d)
    queries = []
    for _ in range(4):
        q = gen_query(d, scn)
        q.limit = None
        queries.append(q)
    return scn, queries


@settings(max_examples=300, deadline=None)
@given(scenario_and_queries())
def test_engine_matches_reference(case: tuple[Scenario, list[Query]]) -> None:
    scn, queries = case
    model = build_model(scn)
    for q in queries:
        assert engine_answer(model, q) == reference(scn, q), q.params()


@settings(max_examples=200, deadline=None)
@given(scenario_and_queries())
def test_forward_checking_matches_reference(case: tuple[Scenario, list[Query]]) -> None:
    """The same with the pruning checks (capacity pools, isolate matching, same_subtree tops)
    switched on for every anchor with more than one combination."""
    scn, queries = case
    model = build_model(scn)
    saved = backtrack_mod.PRUNE_THRESHOLD
    backtrack_mod.PRUNE_THRESHOLD = 2
    try:
        for q in queries:
            assert engine_answer(model, q) == reference(scn, q), q.params()
    finally:
        backtrack_mod.PRUNE_THRESHOLD = saved


@settings(max_examples=100, deadline=None)
@given(scenario_and_queries(), st.integers(1, 4), st.sampled_from(["depth-first", "breadth-first"]))
def test_limit_and_max_candidates_take_a_prefix(case: tuple[Scenario, list[Query]], cut: int, strategy: str) -> None:
    """``limit`` and ``max_allocation_candidates`` keep that many candidates of the full answer,
    and the summaries cover exactly the trees of the kept ones."""
    scn, queries = case
    model = build_model(scn)
    for q in queries:
        full, _ = engine_answer(model, q)
        for kwargs in ({"max_candidates": cut}, {}):
            q.limit = None if kwargs else cut
            reqs, summaries = engine_answer(model, q, strategy=strategy, **kwargs)
            assert reqs <= full
            assert len(reqs) == min(cut, len(full))
            with model.lock:
                roots = {model.providers[model.by_uuid[u]].root_id for parts, _ in reqs for u, _, _ in parts}
                assert summaries == {model.providers[p].uuid for r in roots for p in model.tree_members(r)}
        q.limit = None


# ---- through the API, on a real database ---------------------------------------------------------------


@settings(max_examples=15, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(data=st.data())
def test_api_matches_reference(data: Any, store: Database) -> None:
    d = HypothesisDraw(data.draw)
    scn = gen_scenario(d)
    queries = [gen_query(d, scn) for _ in range(4)]
    reset(store)
    app = make_app(Config(), store)
    with httpx.Client(transport=httpx.WSGITransport(app=app), base_url="http://placement", headers=ADMIN) as c:
        load_scenario(c, scn)
        for q in queries:
            q.limit = None
            r = c.get("/allocation_candidates", params=q.params())
            assert r.status_code == 200, r.text
            body = r.json()
            got = (
                frozenset(
                    (
                        frozenset(
                            (rp, rc, n) for rp, a in req["allocations"].items() for rc, n in a["resources"].items()
                        ),
                        frozenset((s, frozenset(v)) for s, v in req["mappings"].items()),
                    )
                    for req in body["allocation_requests"]
                ),
                frozenset(body["provider_summaries"]),
            )
            assert got == reference(scn, q), q.params()
