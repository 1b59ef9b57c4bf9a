"""What a search returns: candidates (allocation requests), the result, and the provider summaries."""

from __future__ import annotations

from collections import deque
from collections.abc import Iterator
from dataclasses import dataclass, field

from allotment.placement.candidates.model import ProviderRecord, ReadModel

__all__ = ["Candidate", "SearchResult", "SearchWork", "SingleTemplate", "distinct_trees", "round_robin", "summarize"]


class SingleTemplate:
    """What every candidate made of one provider (a childless anchor) shares in a search."""

    __slots__ = ("suffixes", "totals")

    def __init__(self, totals: list[tuple[str, int]], suffixes: list[str]) -> None:
        self.totals = totals
        self.suffixes = suffixes


class Candidate:
    """One allocation request.

    ``parts``: (provider, resource class, amount), each (provider, class) once, in
    request order. ``mappings``: request group suffix -> providers. A candidate made
    of one provider stores just that provider (``single``) and the search's shared
    ``SingleTemplate``; its parts and mappings are built on first access.
    """

    __slots__ = ("_mappings", "_parts", "anchor", "shared_only", "single", "template")

    def __init__(
        self,
        anchor: int,
        parts: list[tuple[ProviderRecord, str, int]] | None = None,
        mappings: dict[str, list[ProviderRecord]] | None = None,
        shared_only: bool = False,
        single: ProviderRecord | None = None,
        template: SingleTemplate | None = None,
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
            rec, tpl = self.single, self.template
            assert rec is not None and tpl is not None  # a candidate without parts is a single one
            self._parts = [(rec, rc, t) for rc, t in tpl.totals]
        return self._parts

    @property
    def mappings(self) -> dict[str, list[ProviderRecord]]:
        if self._mappings is None:
            rec, tpl = self.single, self.template
            assert rec is not None and tpl is not None
            self._mappings = {s: [rec] for s in tpl.suffixes}
        return self._mappings

    def roots(self) -> set[int]:
        if self.single is not None:
            return {self.single.root_id}
        return {rec.root_id for rec, _, _ in self.parts}


@dataclass(frozen=True)
class SearchWork:
    """How much a search did: anchors it looked at, and providers it tried in a slot (backtracking)."""

    anchors: int = 0
    placements: int = 0


@dataclass
class SearchResult:
    candidates: list[Candidate] = field(default_factory=list)
    summaries: list[ProviderRecord] = field(default_factory=list)
    work: SearchWork = field(default_factory=SearchWork)


def distinct_trees(cand: Candidate) -> bool:
    """Before 1.29: no two providers of one tree in a candidate."""
    roots: dict[int, int] = {}
    for rec, _, _ in cand.parts:
        other = roots.setdefault(rec.root_id, rec.id)
        if other != rec.id:
            return False
    return True


def round_robin(generators: Iterator[Iterator[Candidate]]) -> Iterator[Candidate]:
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


def summarize(model: ReadModel, kept: list[Candidate], limit: int | None, exclude_nested: bool) -> SearchResult:
    m = model
    provs = m.providers
    if exclude_nested:
        used = {rec.id for c in kept for rec, _, _ in c.parts}
        if limit and limit < len(kept):
            kept = kept[:limit]
        used_roots = {r for c in kept for r in c.roots()}
        summaries = [provs[p] for p in sorted(used) if provs[p].root_id in used_roots]
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
