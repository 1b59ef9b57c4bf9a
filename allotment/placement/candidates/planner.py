"""Per-group plans: which providers and anchors each request group may use, and the slot layout.

A plan is made before any anchor is chosen, from the read model's index sets
(lazily, see ``sets.Conj``). ``options`` at an anchor are the providers a plan
allows there. ``Layout`` puts the slots every anchor fills in search order.
"""

from __future__ import annotations

import itertools
from collections.abc import Iterable

from allotment.placement.candidates.errors import EmptyAnswer, NoSuchResourceClass, NoSuchTrait
from allotment.placement.candidates.model import ProviderRecord, ReadModel
from allotment.placement.candidates.request import CandidateGroup, CandidateRequest
from allotment.placement.candidates.results import SingleTemplate
from allotment.placement.candidates.sets import NONE, Conj, Ids, conj_all, intersect_all, minus, union

__all__ = ["GroupPlan", "Layout", "Planner"]


class GroupPlan:
    """What one request group may use, before anchors are chosen."""

    def __init__(self, index: int, group: CandidateGroup) -> None:
        self.index = index
        self.group = group
        self.suffix = group.suffix
        self.granular = group.granular
        self.amounts = tuple(group.resources.items())
        self.required = group.required
        self.anchors: Conj = Conj([NONE])
        # granular
        self.cands: Conj = Conj([NONE])
        self.sharing_cands: list[int] = []
        self._fit: dict[int, bool] = {}
        # unsuffixed: per class (rc, amount, providers, sharing providers, fit cache)
        self.per_rc: list[tuple[str, int, Conj, list[int], dict[int, bool]]] = []
        self.member: Ids | None = None

    def fits_all(self, rec: ProviderRecord) -> bool:
        ok = self._fit.get(rec.id)
        if ok is None:
            ok = all(rec.fits(rc, amt) for rc, amt in self.amounts)
            self._fit[rec.id] = ok
        return ok


class Planner:
    """The plans of one request over one read model, and the options they allow at an anchor."""

    def __init__(self, model: ReadModel, creq: CandidateRequest, *, known_classes: set[str],
                 known_traits: set[str]) -> None:
        self.m = model
        self.creq = creq
        self.known_classes = known_classes
        self.known_traits = known_traits
        self.isolate = creq.isolate
        self.anchor_roots: Ids | None = None
        self.plans: list[GroupPlan] = []
        self._members_of = -1
        self._members: list[int] = []

    def make_plans(self) -> None:
        """Plan every group; raises EmptyAnswer, NoSuchResourceClass or NoSuchTrait."""
        self._root_anchors()
        for index, group in enumerate(self.creq.groups):
            self.plans.append(self._make_plan(index, group))

    def anchors(self) -> Conj:
        """Anchors every plan (and root_required) allows."""
        return conj_all([p.anchors for p in self.plans], [self.anchor_roots] if self.anchor_roots is not None else [])

    # ---- plans ----------------------------------------------------------------------------

    def _check_traits(self, names: list[str]) -> None:
        for name in names:
            if name not in self.known_traits:
                self._fail(NoSuchTrait(name))

    def _fail(self, exc: Exception) -> None:
        """An unknown name in the current group: an error, unless an earlier group is empty."""
        for plan in self.plans:
            if not self._plan_nonempty(plan):
                raise EmptyAnswer()
        raise exc

    def _root_anchors(self) -> None:
        creq = self.creq
        if not (creq.root_required or creq.root_forbidden):
            return
        for name in sorted(creq.root_required) + sorted(creq.root_forbidden):
            if name not in self.known_traits:
                raise NoSuchTrait(name)
        m = self.m
        sets: list[Ids] = [m.by_trait.get(t, NONE) for t in creq.root_required]
        anchors = minus(intersect_all([*sets, m.roots]), union(m.by_trait, creq.root_forbidden))
        if not anchors:
            raise EmptyAnswer()
        self.anchor_roots = anchors

    def _make_plan(self, index: int, group: CandidateGroup) -> GroupPlan:
        m = self.m
        plan = GroupPlan(index, group)
        for rc in group.resources:
            if rc not in self.known_classes:
                self._fail(NoSuchResourceClass(rc))
        member: Ids | None = None
        if group.member_of:
            member = intersect_all([union(m.by_agg, any_of) for any_of in group.member_of])
            if not member:
                raise EmptyAnswer()
        plan.member = member
        self._check_traits([t for any_of in group.required for t in sorted(any_of)])
        self._check_traits(sorted(group.forbidden))
        tree_root: int | None = None
        if group.in_tree is not None:
            pid = m.by_uuid.get(group.in_tree)
            if pid is None:
                raise EmptyAnswer()
            tree_root = m.providers[pid].root_id
        bad_aggs = union(m.by_agg, group.forbidden_aggs)
        bad_traits = union(m.by_trait, group.forbidden)
        if plan.granular:
            self._granular_plan(plan, member, [bad_aggs, bad_traits], tree_root)
        else:
            self._unsuffixed_plan(plan, member, [bad_aggs, bad_traits], bad_aggs, tree_root)
        return plan

    def _granular_plan(self, plan: GroupPlan, member: Ids | None, bad: list[Ids], tree_root: int | None) -> None:
        m = self.m
        group = plan.group
        filters: list[Ids] = []
        if group.resources:
            filters += [m.by_rc.get(rc, NONE) for rc in group.resources]
            if tree_root is not None:
                filters.append(m.tree_members(tree_root))
        filters += [union(m.by_trait, any_of) for any_of in group.required]
        if member is not None:
            filters.append(member)
        if not filters:
            filters.append(m.providers.keys())
        cands = Conj(filters, bad)
        plan.cands = cands
        plan.sharing_cands = sorted(sp for sp in m.sharing if sp in cands)
        if not m.has_trees and not plan.sharing_cands:
            plan.anchors = cands  # every provider is a root: the candidates are the anchors
            return
        anchors = m.roots_of(cands.materialize())
        for sp in plan.sharing_cands:
            anchors = anchors | m.anchors_of(sp)
        plan.anchors = Conj([anchors])

    def _unsuffixed_plan(
        self, plan: GroupPlan, member: Ids | None, bad: list[Ids], bad_aggs: Ids, tree_root: int | None
    ) -> None:
        m = self.m
        terms: list[Ids] = []
        excl: list[Ids] = []
        all_sharing: set[int] = set()
        flat = not m.has_trees
        for rc, amount in plan.amounts:
            prov_terms: list[Ids] = [m.by_rc.get(rc, NONE)]
            if tree_root is not None:
                prov_terms.append(m.tree_members(tree_root))
            prov = Conj(prov_terms, bad)
            sharing: list[int] = []
            if tree_root is None and m.sharing:
                sharing = sorted(sp for sp in m.sharing if sp in prov and (member is None or sp in member))
            plan.per_rc.append((rc, amount, prov, sharing, {}))
            all_sharing.update(sharing)
            if flat and not sharing:
                # The anchor is the provider: it has the class, is in the aggregates, is not excluded.
                terms += prov_terms
                if member is not None:
                    terms.append(member)
                excl += bad
                continue
            provs = prov.materialize()
            if member is None:
                anchors = m.roots_of(provs)
            elif m.has_trees:
                # The provider or its root (the anchor) must be in the aggregates.
                anchors = m.roots_of(provs & member) | (m.roots_of(provs) & member)
            else:
                anchors = provs & member
            for sp in sharing:
                anchors = anchors | m.anchors_of(sp)
            terms.append(minus(anchors, bad_aggs))
        for any_of in plan.required:
            having = union(m.by_trait, any_of)
            if flat and not (all_sharing & having):
                terms.append(having)
                excl += bad
                continue
            allowed = m.roots_of(minus(minus(having, bad[0]), bad[1]))
            for sp in having & all_sharing:
                allowed = allowed | m.anchors_of(sp)
            terms.append(allowed)
        plan.anchors = Conj(terms, excl)

    # ---- options at one anchor ------------------------------------------------------------

    def members_sorted(self, anchor: int) -> list[int]:
        if anchor == self._members_of:
            return self._members
        members = self.m.tree_members(anchor)
        self._members = sorted(members) if len(members) > 1 else list(members)
        self._members_of = anchor
        return self._members

    def granular_options(self, plan: GroupPlan, anchor: int) -> list[ProviderRecord]:
        provs = self.m.providers
        cands = plan.cands.fast()
        fits = plan.fits_all
        out = [provs[p] for p in self.members_sorted(anchor) if p in cands]
        out = [r for r in out if fits(r)]
        for sp in plan.sharing_cands:
            rec = provs[sp]
            if rec.root_id != anchor and anchor in self.m.anchors_of(sp) and plan.fits_all(rec):
                out.append(rec)
        return out

    def rc_options(self, plan: GroupPlan, k: int, anchor: int) -> list[ProviderRecord]:
        rc, amount, prov_conj, sharing, fit = plan.per_rc[k]
        prov = prov_conj.fast()
        provs = self.m.providers
        member = plan.member
        anchor_in_member = member is not None and anchor in member
        out = []
        for p in self.members_sorted(anchor):
            if p not in prov or (member is not None and not anchor_in_member and p not in member):
                continue
            ok = fit.get(p)
            rec = provs[p]
            if ok is None:
                ok = fit[p] = rec.fits(rc, amount)
            if ok:
                out.append(rec)
        for sp in sharing:
            rec = provs[sp]
            if rec.root_id == anchor or anchor not in self.m.anchors_of(sp):
                continue
            ok = fit.get(sp)
            if ok is None:
                ok = fit[sp] = rec.fits(rc, amount)
            if ok:
                out.append(rec)
        return out

    # ---- emptiness, for error ordering -----------------------------------------------------

    def _plan_nonempty(self, plan: GroupPlan) -> bool:
        anchors = conj_all([plan.anchors], [self.anchor_roots] if self.anchor_roots is not None else [])
        for anchor in self.in_order(anchors):
            if plan.granular:
                if self.granular_options(plan, anchor):
                    return True
                continue
            options = [self.rc_options(plan, k, anchor) for k in range(len(plan.per_rc))]
            if not all(options):
                continue
            if not plan.required or self._some_combination_covers(options, plan.required):
                return True
        return False

    @staticmethod
    def _some_combination_covers(options: list[list[ProviderRecord]], required: list[frozenset[str]]) -> bool:
        def walk(k: int, have: frozenset[str]) -> bool:
            if k == len(options):
                return all(not have.isdisjoint(s) for s in required)
            return any(walk(k + 1, have | rec.traits) for rec in options[k])

        return walk(0, frozenset())

    def in_order(self, anchors: Conj, *, lazy: bool = True) -> Iterable[int]:
        """``anchors`` by ascending id.

        When generation may stop early and the anchors are many, walk the sorted roots
        and test membership, so a limit needs neither the whole set nor its sorting.
        """
        roots = self.m.sorted_roots
        if lazy and anchors.bound * 8 >= len(roots):
            return (a for a in roots if a in anchors)
        found = anchors.materialize()
        if len(found) * 8 >= len(roots):
            return (a for a in roots if a in found)
        return sorted(found)


class Layout:
    """The slots every anchor fills, in search order, and what is tied to their positions.

    Unsuffixed slots (one per class) come first, then the suffixed groups of each
    same_subtree set, then the other suffixed groups. The same for every anchor, so
    computed once per planner.
    """

    def __init__(self, planner: Planner) -> None:
        plans = planner.plans
        entries: list[tuple[GroupPlan, int | None, tuple[tuple[str, int], ...]]] = []
        for plan in plans:
            if not plan.granular:
                entries += [(plan, k, ((rc, amount),)) for k, (rc, amount, *_r) in enumerate(plan.per_rc)]
        granular = [p for p in plans if p.granular]
        ordered: list[GroupPlan] = []
        for subtree in planner.creq.same_subtrees:
            ordered += [p for p in granular if p.suffix in subtree and p not in ordered]
        ordered += [p for p in granular if p not in ordered]
        entries += [(p, None, p.amounts) for p in ordered]
        self.entries = entries
        self.n = n = len(entries)
        self.granular = [e[0].granular for e in entries]
        self.granular_count = len(granular)
        self.last_unsuffixed = max((i for i in range(n) if not self.granular[i]), default=-1)
        self.unsuffixed_required = next((p.required for p in plans if not p.granular), [])
        by_suffix = {e[0].suffix: i for i, e in enumerate(entries) if e[0].granular}
        self.subtrees: list[list[int]] = []
        for subtree in planner.creq.same_subtrees:
            idx = sorted(by_suffix[x] for x in subtree if x in by_suffix)
            if len(idx) > 1:
                self.subtrees.append(idx)
        self.due: dict[int, list[int]] = {}
        self.sets_of: list[list[int]] = [[] for _ in range(n)]
        for k, idx in enumerate(self.subtrees):
            self.due.setdefault(idx[-1], []).append(k)
            for i in idx:
                self.sets_of[i].append(k)
        self.output_order = sorted(range(n), key=lambda i: (entries[i][0].index, entries[i][1] or 0))
        self.output = [(k, entries[k][0].suffix, entries[k][2]) for k in self.output_order]
        # For anchors that are a single provider: every amount on it, the sums, the suffixes.
        self.each_amount = [(rc, amount) for p in plans for rc, amount in p.amounts]
        totals: dict[str, int] = {}
        counts: dict[str, int] = {}
        for rc, amount in self.each_amount:
            totals[rc] = totals.get(rc, 0) + amount
            counts[rc] = counts.get(rc, 0) + 1
        self.totals = list(totals.items())
        self.summed = [(rc, t) for rc, t in self.totals if counts[rc] > 1]
        self.suffixes = list(dict.fromkeys(p.suffix for p in plans))
        self.fast = not any(p.sharing_cands or any(r[3] for r in p.per_rc) for p in plans)
        self.single = SingleTemplate(self.totals, self.suffixes)
        self.isolate_blocks = planner.isolate and self.granular_count > 1
        signature = (tuple(self.each_amount), tuple(self.summed), self.isolate_blocks)
        key = _FIT_KEYS.get(signature)
        if key is None:
            if len(_FIT_KEYS) > 100_000:
                _FIT_KEYS.clear()  # old keys are never handed out again
            key = _FIT_KEYS[signature] = next(_FIT_COUNTER)
        self.fit_key = key


# Request shapes seen, as ints never reused: the keys of fit verdicts in ``ProviderRecord.cache``.
_FIT_KEYS: dict[tuple[object, ...], int] = {}
_FIT_COUNTER = itertools.count()
