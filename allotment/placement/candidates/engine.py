"""The allocation-candidates search over a ``ReadModel``.

Rules (those of upstream Placement 16.0.0):

- Every candidate is *anchored* at a root provider: each provider in it belongs to
  the anchor's tree, or is a sharing provider (trait MISC_SHARES_VIA_AGGREGATE)
  that shares an aggregate with some provider of the anchor's tree.
- The unsuffixed group may take each of its resource classes from a different
  provider of that set. Its required traits must be covered by the union of the
  traits of the providers it uses; none of them may have a forbidden trait. A
  provider counts as a member of an aggregate when it or the anchor is (an
  aggregate on the root spans the tree); neither may be in a forbidden one.
  ``in_tree`` restricts it to one tree and then no sharing provider takes part.
- A suffixed (granular) group takes all its resources from one provider, which
  itself must have the required traits, be in the aggregates, and be outside the
  forbidden ones; ``in_tree`` restricts that provider (a sharing provider in the
  tree still serves the roots it shares with). A resourceless group (1.36) names
  a provider by traits and aggregates alone; its ``in_tree`` is only checked for
  existence.
- Each provider must fit each group's amount (capacity, min_unit, max_unit,
  step_size). Amounts of one class that several groups put on one provider are
  added and checked again against capacity and max_unit.
- group_policy=isolate: the suffixed groups use pairwise different providers.
- same_subtree: for each set of suffixes, one of the providers they use is an
  ancestor (or itself) of all the others.
- root_required: the anchor must have the required root traits and lack the
  forbidden ones.
- Before 1.29 candidates using two providers of one tree are dropped, and the
  summaries hold only the providers the candidates use; from 1.29 they hold every
  provider of every tree a returned candidate uses.
- A group with no way to be satisfied ends the search with an empty answer; an
  unknown class or trait is an error only if no earlier group ended it so.

Two upstream bugs are deliberately not copied: (1) with group_policy other than
"none", upstream adds the amounts of several groups on one provider into objects
shared between candidates, so later candidates carry inflated amounts (and some
are then dropped as over capacity); we add per candidate. (2) Upstream keeps an
unsuffixed allocation request made only of sharing providers for one anchor only
(whichever comes first in hash-set order), so it combines with suffixed groups at
that anchor alone; we keep it for every anchor it can serve. Both were found by
``tests/placement/candidates/upstream_diff.py``, which otherwise finds no
difference from upstream on random graphs and queries.

Bounding the work:

- Anchor sets stay lazy (``_Conj``: a conjunction of the model's index sets minus
  exclusions). When generation can stop early (``limit``, or the configured
  ``max_allocation_candidates``) and the anchors are many, the sorted root ids are
  walked with membership tests, so a limit costs in proportion to what it keeps,
  not to the size of the deployment; otherwise the sets are intersected in C.
- A childless, non-sharing anchor (when no sharing provider is in play) has one
  possible candidate; building the anchor set already checked everything but
  capacity, and the capacity verdict is cached on the immutable record per request
  shape. Such candidates hold just the provider and a shared template.
- Other anchors run a backtracking search over slots (one per class of the
  unsuffixed group, one per suffixed group; unsuffixed first, then the groups of
  each same_subtree set) that checks capacity, isolation, the unsuffixed traits
  and each same_subtree set as soon as the slots they depend on are filled. When
  the product of the option counts is large it also prunes: up front (free
  capacity per class, a maximum matching of isolated groups to distinct
  providers), after each placement (slots that offered the provider just used
  still have an option; enough distinct providers remain), and after placing a
  member of a same_subtree set (the remaining members must lie under a provider
  that can still be the top of the set).
- Generation is lazy, anchor by anchor (ascending root id; round-robin across
  anchors for ``breadth-first``), and stops at ``limit`` or at
  ``max_allocation_candidates``, so limit-bounded queries over wide, symmetric
  trees stay cheap in time and memory, and infeasible ones are refuted early.
"""

from __future__ import annotations

import itertools
from collections import deque
from collections.abc import Iterable, Iterator
from collections.abc import Set as AbstractSet
from dataclasses import dataclass, field

from allotment.placement.candidates.model import ProviderRecord, ReadModel
from allotment.placement.candidates.request import CandidateGroup, CandidateRequest

__all__ = ["Candidate", "NoSuchResourceClass", "NoSuchTrait", "SearchResult", "search"]

# Anchors whose option product is at least this large get forward checking (capacity
# pools, isolate matching, possible same_subtree tops); below it plain backtracking is cheaper.
_PRUNE_THRESHOLD = 64


class NoSuchResourceClass(Exception):
    def __init__(self, name: str) -> None:
        super().__init__(f"No such resource class {name}.")
        self.name = name


class NoSuchTrait(Exception):
    def __init__(self, name: str) -> None:
        super().__init__(f"No such trait(s): {name}.")
        self.name = name


class _Empty(Exception):
    """Some group cannot be satisfied: the answer is empty."""


class _Single:
    """What every candidate made of one provider (a childless anchor) shares in a search."""

    __slots__ = ("totals", "suffixes")

    def __init__(self, totals: list[tuple[str, int]], suffixes: list[str]) -> None:
        self.totals = totals
        self.suffixes = suffixes


class Candidate:
    """One allocation request.

    ``parts``: (provider, resource class, amount), each (provider, class) once, in
    request order. ``mappings``: request group suffix -> providers. A candidate made
    of one provider stores just that provider (``single``) and the search's shared
    ``_Single``; its parts and mappings are built on first access.
    """

    __slots__ = ("anchor", "_parts", "_mappings", "shared_only", "single", "template")

    def __init__(
        self,
        anchor: int,
        parts: list[tuple[ProviderRecord, str, int]] | None = None,
        mappings: dict[str, list[ProviderRecord]] | None = None,
        shared_only: bool = False,
        single: ProviderRecord | None = None,
        template: _Single | None = None,
    ) -> None:
        self.anchor = anchor
        self._parts = parts
        self._mappings = mappings
        self.shared_only = shared_only  # made of sharing providers only: other anchors may produce it too
        self.single = single
        self.template = template

    @property
    def parts(self) -> list[tuple[ProviderRecord, str, int]]:
        if self._parts is None:
            rec = self.single
            self._parts = [(rec, rc, t) for rc, t in self.template.totals]  # type: ignore[union-attr,misc]
        return self._parts

    @property
    def mappings(self) -> dict[str, list[ProviderRecord]]:
        if self._mappings is None:
            self._mappings = {s: [self.single] for s in self.template.suffixes}  # type: ignore[union-attr,misc]
        return self._mappings

    def roots(self) -> set[int]:
        if self.single is not None:
            return {self.single.root_id}
        return {rec.root_id for rec, _, _ in self.parts}


@dataclass
class SearchResult:
    candidates: list[Candidate] = field(default_factory=list)
    summaries: list[ProviderRecord] = field(default_factory=list)


# ---- per-group plans ----------------------------------------------------------------------


class _Plan:
    """What one request group may use, before anchors are chosen."""

    def __init__(self, index: int, group: CandidateGroup) -> None:
        self.index = index
        self.group = group
        self.suffix = group.suffix
        self.granular = group.granular
        self.amounts = tuple(group.resources.items())
        self.required = group.required
        self.anchors: _Conj = _Conj([_NONE])
        # granular
        self.cands: _Conj = _Conj([_NONE])
        self.sharing_cands: list[int] = []
        self._fit: dict[int, bool] = {}
        # unsuffixed: per class (rc, amount, providers, sharing providers, fit cache)
        self.per_rc: list[tuple[str, int, _Conj, list[int], dict[int, bool]]] = []
        self.member: Ids | None = None

    def fits_all(self, rec: ProviderRecord) -> bool:
        ok = self._fit.get(rec.id)
        if ok is None:
            ok = all(rec.fits(rc, amt) for rc, amt in self.amounts)
            self._fit[rec.id] = ok
        return ok


# Sets from the helpers below may be the model's own index sets: never change them in place.
Ids = AbstractSet[int]
_NONE: frozenset[int] = frozenset()


def _union(index: dict[str, set[int]], keys: frozenset[str] | set[str]) -> Ids:
    sets = [index[k] for k in keys if k in index]
    if not sets:
        return _NONE
    if len(sets) == 1:
        return sets[0]
    return set().union(*sets)


def _intersect_all(sets: list[Ids]) -> Ids:
    if not sets:
        return _NONE
    sets = sorted(sets, key=len)
    out = sets[0]
    for other in sets[1:]:
        if not out:
            break
        out = out & other
    return out


def _minus(a: Ids, b: Ids) -> Ids:
    return a - b if b else a


class _Conj:
    """The ids in every one of ``terms`` and in none of ``excl``, decided lazily.

    Membership tests need no set algebra; ``materialize()`` intersects (in C) when
    the whole set is wanted. ``bound`` is an upper bound of its size.
    """

    __slots__ = ("terms", "excl", "_set")

    def __init__(self, terms: list[Ids], excl: list[Ids] | None = None) -> None:
        self.terms = sorted(terms, key=len)
        self.excl = [e for e in (excl or ()) if e]
        self._set: Ids | None = None
        if len(self.terms) == 1 and not self.excl:
            self._set = self.terms[0]

    def __contains__(self, x: object) -> bool:
        if self._set is not None:
            return x in self._set
        for t in self.terms:
            if x not in t:
                return False
        for e in self.excl:
            if x in e:
                return False
        return True

    @property
    def bound(self) -> int:
        return len(self._set) if self._set is not None else len(self.terms[0])

    def fast(self) -> Ids | _Conj:
        """The materialized set when there is one (cheaper ``in``), else this."""
        return self._set if self._set is not None else self

    def materialize(self) -> Ids:
        if self._set is None:
            out = _intersect_all(self.terms)
            for e in self.excl:
                if not out:
                    break
                out = out - e
            self._set = out
        return self._set

    def __and__(self, other: Ids) -> Ids:
        return self.materialize() & other

    def __rand__(self, other: Ids) -> Ids:
        return other & self.materialize()


def _conj_all(conjs: list[_Conj], extra: list[Ids]) -> _Conj:
    terms = [t for c in conjs for t in ([c._set] if c._set is not None else c.terms)]
    excl = [e for c in conjs if c._set is None for e in c.excl]
    return _Conj(terms + extra, excl)


class _Search:
    def __init__(
        self,
        model: ReadModel,
        creq: CandidateRequest,
        *,
        known_classes: set[str],
        known_traits: set[str],
        nested_aware: bool,
        max_candidates: int,
        strategy: str,
    ) -> None:
        self.m = model
        self.creq = creq
        self.known_classes = known_classes
        self.known_traits = known_traits
        self.nested_aware = nested_aware
        self.max_candidates = max_candidates
        self.strategy = strategy
        self.isolate = creq.isolate
        self.anchor_roots: Ids | None = None
        self.plans: list[_Plan] = []
        self._ancestors: dict[int, frozenset[int]] = {}
        self.layout: _Layout
        self._members_of = -1
        self._members: list[int] = []

    def ancestors(self, pid: int) -> frozenset[int]:
        """``pid`` and every provider above it."""
        found = self._ancestors.get(pid)
        if found is None:
            provs = self.m.providers
            chain = []
            cur: int | None = pid
            while cur is not None and len(chain) < 1000:
                chain.append(cur)
                rec = provs.get(cur)
                cur = rec.parent_id if rec is not None else None
            found = self._ancestors[pid] = frozenset(chain)
        return found

    # ---- plans ------------------------------------------------------------------------

    def _check_traits(self, names: list[str]) -> None:
        for name in names:
            if name not in self.known_traits:
                self._fail(NoSuchTrait(name))

    def _fail(self, exc: Exception) -> None:
        """An unknown name in the current group: an error, unless an earlier group is empty."""
        for plan in self.plans:
            if not self._plan_nonempty(plan):
                raise _Empty()
        raise exc

    def _root_anchors(self) -> None:
        creq = self.creq
        if not (creq.root_required or creq.root_forbidden):
            return
        for name in sorted(creq.root_required) + sorted(creq.root_forbidden):
            if name not in self.known_traits:
                raise NoSuchTrait(name)
        m = self.m
        sets: list[Ids] = [m.by_trait.get(t, _NONE) for t in creq.root_required]
        anchors = _minus(_intersect_all([*sets, m.roots]), _union(m.by_trait, creq.root_forbidden))
        if not anchors:
            raise _Empty()
        self.anchor_roots = anchors

    def _make_plan(self, index: int, group: CandidateGroup) -> _Plan:
        m = self.m
        plan = _Plan(index, group)
        for rc in group.resources:
            if rc not in self.known_classes:
                self._fail(NoSuchResourceClass(rc))
        member: Ids | None = None
        if group.member_of:
            member = _intersect_all([_union(m.by_agg, any_of) for any_of in group.member_of])
            if not member:
                raise _Empty()
        plan.member = member
        self._check_traits([t for any_of in group.required for t in sorted(any_of)])
        self._check_traits(sorted(group.forbidden))
        tree_root: int | None = None
        if group.in_tree is not None:
            pid = m.by_uuid.get(group.in_tree)
            if pid is None:
                raise _Empty()
            tree_root = m.providers[pid].root_id
        bad_aggs = _union(m.by_agg, group.forbidden_aggs)
        bad_traits = _union(m.by_trait, group.forbidden)
        if plan.granular:
            self._granular_plan(plan, member, [bad_aggs, bad_traits], tree_root)
        else:
            self._unsuffixed_plan(plan, member, [bad_aggs, bad_traits], bad_aggs, tree_root)
        return plan

    def _granular_plan(self, plan: _Plan, member: Ids | None, bad: list[Ids], tree_root: int | None) -> None:
        m = self.m
        group = plan.group
        filters: list[Ids] = []
        if group.resources:
            filters += [m.by_rc.get(rc, _NONE) for rc in group.resources]
            if tree_root is not None:
                filters.append(m.tree_members(tree_root))
        filters += [_union(m.by_trait, any_of) for any_of in group.required]
        if member is not None:
            filters.append(member)
        if not filters:
            filters.append(m.providers.keys())
        cands = _Conj(filters, bad)
        plan.cands = cands
        plan.sharing_cands = sorted(sp for sp in m.sharing if sp in cands)
        if not m.has_trees and not plan.sharing_cands:
            plan.anchors = cands  # every provider is a root: the candidates are the anchors
            return
        anchors = m.roots_of(cands.materialize())
        for sp in plan.sharing_cands:
            anchors = anchors | m.anchors_of(sp)
        plan.anchors = _Conj([anchors])

    def _unsuffixed_plan(
        self, plan: _Plan, member: Ids | None, bad: list[Ids], bad_aggs: Ids, tree_root: int | None
    ) -> None:
        m = self.m
        terms: list[Ids] = []
        excl: list[Ids] = []
        all_sharing: set[int] = set()
        flat = not m.has_trees
        for rc, amount in plan.amounts:
            prov_terms = [m.by_rc.get(rc, _NONE)]
            if tree_root is not None:
                prov_terms.append(m.tree_members(tree_root))
            prov = _Conj(prov_terms, bad)
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
            terms.append(_minus(anchors, bad_aggs))
        for any_of in plan.required:
            having = _union(m.by_trait, any_of)
            if flat and not (all_sharing & having):
                terms.append(having)
                excl += bad
                continue
            allowed = m.roots_of(_minus(_minus(having, bad[0]), bad[1]))
            for sp in having & all_sharing:
                allowed = allowed | m.anchors_of(sp)
            terms.append(allowed)
        plan.anchors = _Conj(terms, excl)

    # ---- options at one anchor ------------------------------------------------------------

    def _members_sorted(self, anchor: int) -> list[int]:
        if anchor == self._members_of:
            return self._members
        members = self.m.tree_members(anchor)
        self._members = sorted(members) if len(members) > 1 else list(members)
        self._members_of = anchor
        return self._members

    def _granular_options(self, plan: _Plan, anchor: int) -> list[ProviderRecord]:
        provs = self.m.providers
        cands = plan.cands.fast()
        fits = plan.fits_all
        out = [provs[p] for p in self._members_sorted(anchor) if p in cands]
        out = [r for r in out if fits(r)]
        for sp in plan.sharing_cands:
            rec = provs[sp]
            if rec.root_id != anchor and anchor in self.m.anchors_of(sp) and plan.fits_all(rec):
                out.append(rec)
        return out

    def _rc_options(self, plan: _Plan, k: int, anchor: int) -> list[ProviderRecord]:
        rc, amount, prov_conj, sharing, fit = plan.per_rc[k]
        prov = prov_conj.fast()
        provs = self.m.providers
        member = plan.member
        anchor_in_member = member is not None and anchor in member
        out = []
        for p in self._members_sorted(anchor):
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

    # ---- the combination search at one anchor ------------------------------------------------

    def _slot_options(self, anchor: int) -> list[list[ProviderRecord]] | None:
        """The options of every slot at ``anchor``, in layout order; None when one has none."""
        out: list[list[ProviderRecord]] = []
        for plan, k, _ in self.layout.entries:
            opts = self._granular_options(plan, anchor) if k is None else self._rc_options(plan, k, anchor)
            if not opts:
                return None
            out.append(opts)
        return out

    def _singleton(self, anchor: int) -> Candidate | None:
        """The one possible candidate of a childless, non-sharing root with no sharing provider in play.

        Building the anchor set already checked traits, aggregates and classes for
        such an anchor; what is left is capacity (cached on the immutable record).
        """
        lay = self.layout
        rec = self.m.providers[anchor]
        ok = rec.cache.get(lay.fit_key)
        if ok is None:
            ok = _single_fits(rec, lay)
            if len(rec.cache) > 32:
                rec.cache.clear()
            rec.cache[lay.fit_key] = ok
        return Candidate(anchor, None, None, False, rec, lay.single) if ok else None

    def _anchor_candidates(self, anchor: int) -> Iterator[Candidate]:
        lay = self.layout
        if lay.fast and len(self.m.tree_members(anchor)) == 1 and anchor not in self.m.sharing:
            cand = self._singleton(anchor)
            if cand is not None:
                yield cand
            return
        options = self._slot_options(anchor)
        if options is None:
            return
        product = 1
        for opts in options:
            product *= len(opts)
        if product == 1:
            # One option per slot: a single combination to check.
            st = _State(lay, self, options, careful=False)
            if st.try_all():
                yield self._candidate(anchor, st.chosen)
            return
        st = _State(lay, self, options, careful=product >= _PRUNE_THRESHOLD)
        if st.careful and not st.forward_ok(0):
            return
        n = lay.n
        pos = [-1] * n
        i = 0
        while i >= 0:
            if i == n:
                yield self._candidate(anchor, st.chosen)
                i -= 1
                st.remove(i)
                continue
            opts = options[i]
            j = pos[i] + 1
            placed = False
            while j < len(opts):
                rec = opts[j]
                j += 1
                if st.place(i, rec):
                    if st.checks_after(i):
                        placed = True
                        break
                    st.remove(i)
            if placed:
                pos[i] = j - 1
                i += 1
                if i < n:
                    pos[i] = -1
            else:
                pos[i] = -1
                i -= 1
                if i >= 0:
                    st.remove(i)

    def _same_subtree(self, ids: set[int]) -> bool:
        """Whether one of ``ids`` is an ancestor (or itself) of all the others."""
        if len(ids) <= 1:
            return True
        return any(all(top in self.ancestors(other) for other in ids) for top in ids)

    def _candidate(self, anchor: int, chosen: list[ProviderRecord | None]) -> Candidate:
        parts: list[tuple[ProviderRecord, str, int]] = []
        where: dict[tuple[int, str], int] = {}
        mappings: dict[str, list[ProviderRecord]] = {}
        for k, suffix, slot_amounts in self.layout.output:
            rec = chosen[k]
            assert rec is not None
            for rc, amount in slot_amounts:
                key = (rec.id, rc)
                at = where.get(key)
                if at is None:
                    where[key] = len(parts)
                    parts.append((rec, rc, amount))
                else:
                    parts[at] = (rec, rc, parts[at][2] + amount)
            mapped = mappings.get(suffix)
            if mapped is None:
                mappings[suffix] = [rec]
            elif rec not in mapped:
                mapped.append(rec)
        sharing = self.m.sharing
        shared_only = bool(sharing) and all(rec.id in sharing for rec in chosen)  # type: ignore[union-attr]
        return Candidate(anchor, parts, mappings, shared_only)

    # ---- emptiness, for error ordering -----------------------------------------------------

    def _plan_nonempty(self, plan: _Plan) -> bool:
        anchors = _conj_all([plan.anchors], [self.anchor_roots] if self.anchor_roots is not None else [])
        for anchor in self._in_order(anchors):
            if plan.granular:
                if self._granular_options(plan, anchor):
                    return True
                continue
            options = [self._rc_options(plan, k, anchor) for k in range(len(plan.per_rc))]
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

    # ---- driver ------------------------------------------------------------------------------

    def run(self, limit: int | None) -> SearchResult:
        try:
            self._root_anchors()
            for index, group in enumerate(self.creq.groups):
                self.plans.append(self._make_plan(index, group))
        except _Empty:
            return SearchResult()
        exclude_nested = not self.nested_aware and self.m.has_trees
        # Before 1.29 (with trees) the summaries depend on candidates the limit drops: no early stop.
        early_limit = limit if (limit and not exclude_nested) else None
        anchors = _conj_all(
            [p.anchors for p in self.plans], [self.anchor_roots] if self.anchor_roots is not None else []
        )
        self.layout = _Layout(self)
        ordered = self._in_order(anchors, lazy=early_limit is not None or self.max_candidates >= 0)
        kept: list[Candidate] = []
        seen: set[object] = set()
        generated = 0
        cap = self.max_candidates
        if self.strategy == "breadth-first":
            stream = _round_robin(self._anchor_candidates(a) for a in ordered)
        else:
            stream = self._depth_first(ordered)
        check_shared = bool(self.m.sharing)
        limit_left = early_limit if early_limit is not None else -1
        # Upstream adds a candidate before comparing with the maximum: 0 still yields one.
        stop_at = max(cap, 1) if cap >= 0 else -1
        for cand in stream:
            if check_shared and cand.shared_only:
                # Other anchors can produce the same candidate.
                key = (
                    frozenset((rec.id, rc, amt) for rec, rc, amt in cand.parts),
                    frozenset((s, frozenset(r.id for r in recs)) for s, recs in cand.mappings.items()),
                )
                if key in seen:
                    continue
                seen.add(key)
            generated += 1
            if not exclude_nested or _distinct_trees(cand):
                kept.append(cand)
                if len(kept) == limit_left:
                    break
            if generated == stop_at:
                break
        return self._finish(kept, limit, exclude_nested)

    def _in_order(self, anchors: _Conj, *, lazy: bool = True) -> Iterable[int]:
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

    def _depth_first(self, anchors: Iterable[int]) -> Iterator[Candidate]:
        lay = self.layout
        m = self.m
        if not lay.fast:
            for a in anchors:
                yield from self._anchor_candidates(a)
            return
        # Childless, non-sharing anchors: one possible candidate each, checked inline.
        trees = m.trees
        sharing = m.sharing
        provs = m.providers
        key = lay.fit_key
        tpl = lay.single
        for a in anchors:
            members = trees.get(a)
            if members is not None and len(members) == 1 and a not in sharing:
                rec = provs[a]
                ok = rec.cache.get(key)
                if ok is None:
                    ok = _single_fits(rec, lay)
                    if len(rec.cache) > 32:
                        rec.cache.clear()
                    rec.cache[key] = ok
                if ok:
                    yield Candidate(a, None, None, False, rec, tpl)
            else:
                yield from self._anchor_candidates(a)

    def _finish(self, kept: list[Candidate], limit: int | None, exclude_nested: bool) -> SearchResult:
        m = self.m
        provs = m.providers
        if exclude_nested:
            used = {rec.id for c in kept for rec, _, _ in c.parts}
            if limit and limit < len(kept):
                kept = kept[:limit]
            roots = {r for c in kept for r in c.roots()}
            summaries = [provs[p] for p in sorted(used) if provs[p].root_id in roots]
            return SearchResult(kept, summaries)
        if limit and limit < len(kept):
            kept = kept[:limit]
        roots: dict[int, None] = {}  # in candidate order (the order of summaries does not matter)
        for c in kept:
            if c.single is not None:
                roots[c.single.root_id] = None
            else:
                for rec, _, _ in c.parts:
                    roots[rec.root_id] = None
        summaries = []
        trees = m.trees
        for r in roots:
            members = trees.get(r, ())
            if len(members) == 1 and r in provs:
                summaries.append(provs[r])
            else:
                summaries += [provs[p] for p in sorted(members)]
        return SearchResult(kept, summaries)


def _distinct_trees(cand: Candidate) -> bool:
    """Before 1.29: no two providers of one tree in a candidate."""
    roots: dict[int, int] = {}
    for rec, _, _ in cand.parts:
        other = roots.setdefault(rec.root_id, rec.id)
        if other != rec.id:
            return False
    return True


def _matching_size(options: list[list[int]]) -> int:
    """Size of a maximum matching of slots to distinct providers (Kuhn's augmenting paths)."""
    owner: dict[int, int] = {}

    def augment(i: int, seen: set[int]) -> bool:
        for pid in options[i]:
            if pid in seen:
                continue
            seen.add(pid)
            if pid not in owner or augment(owner[pid], seen):
                owner[pid] = i
                return True
        return False

    return sum(1 for i in range(len(options)) if augment(i, set()))


class _Layout:
    """The slots every anchor fills, in search order, and what is tied to their positions.

    Unsuffixed slots (one per class) come first, then the suffixed groups of each
    same_subtree set, then the other suffixed groups. The same for every anchor, so
    computed once per search.
    """

    def __init__(self, search: _Search) -> None:
        plans = search.plans
        entries: list[tuple[_Plan, int | None, tuple[tuple[str, int], ...]]] = []
        for plan in plans:
            if not plan.granular:
                entries += [(plan, k, ((rc, amount),)) for k, (rc, amount, *_r) in enumerate(plan.per_rc)]
        granular = [p for p in plans if p.granular]
        ordered: list[_Plan] = []
        for subtree in search.creq.same_subtrees:
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
        for subtree in search.creq.same_subtrees:
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
        self.single = _Single(self.totals, self.suffixes)
        self.isolate_blocks = search.isolate and self.granular_count > 1
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


def _single_fits(rec: ProviderRecord, lay: _Layout) -> bool:
    """Whether the whole request fits on ``rec`` alone."""
    if lay.isolate_blocks:
        return False
    invs = rec.inv
    used = rec.used
    for rc, amount in lay.each_amount:
        inv = invs.get(rc)
        if (
            inv is None
            or not inv.min_unit <= amount <= inv.max_unit
            or amount % inv.step_size
            or used.get(rc, 0) + amount > inv.cap
        ):
            return False
    for rc, total in lay.summed:
        inv = invs[rc]
        if used.get(rc, 0) + total > inv.capacity or total > inv.max_unit:
            return False
    return True


class _State:
    """What is placed so far in one anchor's backtracking search, and the checks on it."""

    def __init__(self, layout: _Layout, search: _Search, options: list[list[ProviderRecord]], *, careful: bool) -> None:
        self.search = search
        self.options = options
        self.layout = layout
        self.n = n = layout.n
        self.careful = careful
        self.isolate = search.isolate
        self.granular = layout.granular
        self.amounts = [e[2] for e in layout.entries]
        self.added: dict[tuple[int, str], int] = {}
        self.used_granular: set[int] = set()
        self.chosen: list[ProviderRecord | None] = [None] * n
        self.last_unsuffixed = layout.last_unsuffixed
        self.unsuffixed_required = layout.unsuffixed_required
        self.subtrees = layout.subtrees
        self.due = layout.due
        self.sets_of = layout.sets_of
        self.option_ids = [{r.id for r in opts} for opts in options] if careful or layout.subtrees else []
        if careful and self.isolate:
            # For each position: suffixed slots from there on, and the providers they may use.
            self.isolated_after = [0] * (n + 1)
            self.pool_after: list[set[int]] = [set() for _ in range(n + 1)]
            for k in range(n - 1, -1, -1):
                self.isolated_after[k] = self.isolated_after[k + 1] + (1 if self.granular[k] else 0)
                self.pool_after[k] = (
                    self.pool_after[k + 1] | self.option_ids[k] if self.granular[k] else (self.pool_after[k + 1])
                )

    def place(self, i: int, rec: ProviderRecord) -> bool:
        pid = rec.id
        iso = self.isolate and self.granular[i]
        if iso and pid in self.used_granular:
            return False
        added = self.added
        amounts = self.amounts[i]
        for rc, amount in amounts:
            prev = added.get((pid, rc))
            if prev:
                total = prev + amount
                inv = rec.inv[rc]
                if rec.used.get(rc, 0) + total > inv.capacity or total > inv.max_unit:
                    return False
        for rc, amount in amounts:
            key = (pid, rc)
            added[key] = added.get(key, 0) + amount
        if iso:
            self.used_granular.add(pid)
        self.chosen[i] = rec
        return True

    def remove(self, i: int) -> None:
        rec = self.chosen[i]
        if rec is None:
            return
        pid = rec.id
        added = self.added
        for rc, amount in self.amounts[i]:
            key = (pid, rc)
            left = added[key] - amount
            if left:
                added[key] = left
            else:
                del added[key]
        if self.isolate and self.granular[i]:
            self.used_granular.discard(pid)
        self.chosen[i] = None

    def checks_after(self, i: int) -> bool:
        """The checks that become decidable once slot ``i`` is filled."""
        chosen = self.chosen
        if i == self.last_unsuffixed and self.unsuffixed_required:
            have: set[str] = set()
            for k in range(i + 1):
                if not self.granular[k]:
                    have |= chosen[k].traits  # type: ignore[union-attr]
            if not all(not have.isdisjoint(any_of) for any_of in self.unsuffixed_required):
                return False
        for k in self.due.get(i, ()):
            if not self.search._same_subtree({chosen[j].id for j in self.subtrees[k]}):  # type: ignore[union-attr]
                return False
        if self.careful and i + 1 < self.n:
            if self.sets_of[i]:
                return self.forward_ok(i + 1)
            return self._still_viable(i)
        for k in self.sets_of[i]:
            # A same_subtree set not complete yet still needs a possible top.
            if self.subtrees[k][-1] != i and not self._tops(k, i + 1):
                return False
        return True

    def _viable(self, j: int) -> bool:
        """Slot ``j`` has an option that is free (isolate) and fits next to what is placed."""
        iso = self.isolate and self.granular[j]
        added = self.added
        amounts = self.amounts[j]
        for rec in self.options[j]:
            pid = rec.id
            if iso and pid in self.used_granular:
                continue
            for rc, amount in amounts:
                prev = added.get((pid, rc))
                if prev:
                    inv = rec.inv[rc]
                    total = prev + amount
                    if rec.used.get(rc, 0) + total > inv.capacity or total > inv.max_unit:
                        break
            else:
                return True
        return False

    def _still_viable(self, i: int) -> bool:
        """After placing slot ``i``: only slots offering the same provider can have lost their last option;
        and with isolate enough distinct providers must remain for the suffixed slots still open."""
        pid = self.chosen[i].id  # type: ignore[union-attr]
        ids = self.option_ids
        for j in range(i + 1, self.n):
            if pid in ids[j] and not self._viable(j):
                return False
        if self.isolate:
            need = self.isolated_after[i + 1]
            if need > 1 and len(self.pool_after[i + 1] - self.used_granular) < need:
                return False
        return True

    def try_all(self) -> bool:
        """Place the only option of every slot."""
        return all(self.place(i, opts[0]) and self.checks_after(i) for i, opts in enumerate(self.options))

    def _tops(self, k: int, start: int) -> set[int] | None:
        """Providers that can still be the top of same_subtree set ``k``; None if none of it is placed."""
        idx = self.subtrees[k]
        placed = [self.chosen[i].id for i in idx if i < start]  # type: ignore[union-attr]
        if not placed:
            return None
        ancestors = self.search.ancestors
        common = set(ancestors(placed[0]))
        for pid in placed[1:]:
            common &= ancestors(pid)
        possible = set(placed)
        for i in idx:
            if i >= start:
                possible |= self.option_ids[i]
        return common & possible

    def forward_ok(self, start: int, *, full: bool = True) -> bool:
        """Necessary conditions for completing slots ``start``.. given what is placed.

        Each remaining slot keeps an option that fits next to the placed amounts, is not
        taken (isolate) and lies under a possible top of its same_subtree sets; the free
        capacity of the remaining options covers the remaining amounts per class; with
        isolate, the remaining suffixed slots can be matched to distinct providers
        (``full``: a maximum matching; else just enough distinct providers).
        """
        tops = [self._tops(k, start) for k in range(len(self.subtrees))]
        if any(t is not None and not t for t in tops):
            return False
        ancestors = self.search.ancestors
        added = self.added
        need: dict[str, int] = {}
        pools: dict[str, dict[int, ProviderRecord]] = {}
        matching: list[list[int]] = []
        for i in range(start, self.n):
            slot_amounts = self.amounts[i]
            iso = self.isolate and self.granular[i]
            allowed: set[int] | None = None
            for k in self.sets_of[i]:
                if tops[k] is not None:
                    allowed = tops[k] if allowed is None else allowed & tops[k]  # type: ignore[operator]
            opts = []
            for rec in self.options[i]:
                pid = rec.id
                if iso and pid in self.used_granular:
                    continue
                if allowed is not None and allowed.isdisjoint(ancestors(pid)):
                    continue
                ok = True
                for rc, amount in slot_amounts:
                    prev = added.get((pid, rc))
                    if prev:
                        inv = rec.inv[rc]
                        total = prev + amount
                        if rec.used.get(rc, 0) + total > inv.capacity or total > inv.max_unit:
                            ok = False
                            break
                if ok:
                    opts.append(rec)
            if not opts:
                return False
            for rc, amount in slot_amounts:
                need[rc] = need.get(rc, 0) + amount
                pool = pools.setdefault(rc, {})
                for rec in opts:
                    pool[rec.id] = rec
            if iso:
                matching.append([r.id for r in opts])
        for rc, amount in need.items():
            free = 0
            for pid, rec in pools[rc].items():
                inv = rec.inv[rc]
                already = added.get((pid, rc), 0)
                free += max(0, min(inv.capacity - rec.used.get(rc, 0) - already, inv.max_unit - already))
                if free >= amount:
                    break
            if free < amount:
                return False
        if len(matching) > 1:
            if full:
                if _matching_size(matching) < len(matching):
                    return False
            elif len(set().union(*matching)) < len(matching):
                return False
        return True


def _round_robin(generators: Iterator[Iterator[Candidate]]) -> Iterator[Candidate]:
    """One candidate from each anchor in turn; anchors join in order and leave when exhausted."""
    active: deque[Iterator[Candidate]] = deque()
    pending = iter(generators)
    exhausted_pending = False
    while True:
        if not exhausted_pending:
            nxt = next(pending, None)
            if nxt is None:
                exhausted_pending = True
            else:
                active.append(nxt)
                # First pass: take one from the newcomer before moving on.
                gen = active.pop()
                item = next(gen, None)
                if item is not None:
                    active.append(gen)
                    yield item
                continue
        if not active:
            return
        gen = active.popleft()
        item = next(gen, None)
        if item is not None:
            active.append(gen)
            yield item


def search(
    model: ReadModel,
    creq: CandidateRequest,
    *,
    known_classes: set[str],
    known_traits: set[str],
    nested_aware: bool = True,
    max_candidates: int = -1,
    strategy: str = "depth-first",
) -> SearchResult:
    """Allocation candidates for ``creq``. Call with ``model.lock`` held.

    Raises NoSuchResourceClass / NoSuchTrait for unknown names (``known_*`` say
    which requested names exist).
    """
    s = _Search(
        model,
        creq,
        known_classes=known_classes,
        known_traits=known_traits,
        nested_aware=nested_aware,
        max_candidates=max_candidates,
        strategy=strategy,
    )
    return s.run(creq.limit)
