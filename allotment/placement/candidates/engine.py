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

- Anchor sets stay lazy (``sets.Conj``: a conjunction of the model's index sets minus
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

from collections.abc import Iterable, Iterator

from allotment.placement.candidates.backtrack import AnchorSearch, single_fits
from allotment.placement.candidates.errors import EmptyAnswer, NoSuchResourceClass, NoSuchTrait
from allotment.placement.candidates.model import ReadModel
from allotment.placement.candidates.planner import Layout, Planner
from allotment.placement.candidates.request import CandidateRequest
from allotment.placement.candidates.results import (
    Candidate,
    SearchResult,
    SearchWork,
    distinct_trees,
    round_robin,
    summarize,
)

__all__ = ["Candidate", "NoSuchResourceClass", "NoSuchTrait", "SearchResult", "SearchWork", "search"]


class _Search:
    """One search: plan the groups, walk the anchors in order, stop at the limit, summarize."""

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
        self.planner = Planner(model, creq, known_classes=known_classes, known_traits=known_traits)
        self.nested_aware = nested_aware
        self.max_candidates = max_candidates
        self.strategy = strategy
        self.at: AnchorSearch
        self.anchors_visited = 0

    def _count(self, anchor: int) -> int:
        self.anchors_visited += 1
        return anchor

    def run(self, limit: int | None) -> SearchResult:
        planner = self.planner
        try:
            planner.make_plans()
        except EmptyAnswer:
            return SearchResult()
        exclude_nested = not self.nested_aware and self.m.has_trees
        # Before 1.29 (with trees) the summaries depend on candidates the limit drops: no early stop.
        early_limit = limit if (limit and not exclude_nested) else None
        anchors = planner.anchors()
        self.at = at = AnchorSearch(planner, Layout(planner))
        ordered = planner.in_order(anchors, lazy=early_limit is not None or self.max_candidates >= 0)
        kept: list[Candidate] = []
        seen: set[object] = set()
        generated = 0
        cap = self.max_candidates
        if self.strategy == "breadth-first":
            stream = round_robin(at.candidates_at(self._count(a)) for a in ordered)
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
            if not exclude_nested or distinct_trees(cand):
                kept.append(cand)
                if len(kept) == limit_left:
                    break
            if generated == stop_at:
                break
        result = summarize(self.m, kept, limit, exclude_nested)
        result.work = SearchWork(self.anchors_visited, at.placements)
        return result

    def _depth_first(self, anchors: Iterable[int]) -> Iterator[Candidate]:
        at = self.at
        lay = at.layout
        m = self.m
        if not lay.fast:
            for a in anchors:
                self.anchors_visited += 1
                yield from at.candidates_at(a)
            return
        # Childless, non-sharing anchors: one possible candidate each, checked inline.
        trees = m.trees
        sharing = m.sharing
        provs = m.providers
        key = lay.fit_key
        tpl = lay.single
        for visited, a in enumerate(anchors, 1):
            self.anchors_visited = visited
            members = trees.get(a)
            if members is not None and len(members) == 1 and a not in sharing:
                rec = provs[a]
                ok = rec.cache.get(key)
                if ok is None:
                    ok = single_fits(rec, lay)
                    if len(rec.cache) > 32:
                        rec.cache.clear()
                    rec.cache[key] = ok
                if ok:
                    yield Candidate(a, None, None, False, rec, tpl)
            else:
                yield from at.candidates_at(a)


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
