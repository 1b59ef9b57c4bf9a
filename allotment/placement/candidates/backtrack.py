"""The backtracking search at one anchor: fill the layout's slots with providers, checking as early as possible.

Capacity (amounts several slots put on one provider added up), isolation, the
unsuffixed group's traits and each same_subtree set are checked as soon as the
slots they depend on are filled. When the product of the option counts is at
least ``PRUNE_THRESHOLD`` it also prunes ahead (``State.forward_ok``).
"""

from __future__ import annotations

from collections.abc import Iterator

from allotment.placement.candidates.model import ProviderRecord
from allotment.placement.candidates.planner import Layout, Planner
from allotment.placement.candidates.results import Candidate

__all__ = ["PRUNE_THRESHOLD", "AnchorSearch", "State", "matching_size", "single_fits"]

# Anchors whose option product is at least this large get forward checking (capacity
# pools, isolate matching, possible same_subtree tops); below it plain backtracking is cheaper.
PRUNE_THRESHOLD = 64
# At most this many candidates of one anchor are kept to answer the other trees of the same shape;
# an anchor with more is searched again at every tree of its shape (its answer is not held in memory).
MEMO_MAX = 256
_TOO_MANY: list[tuple[list[tuple[int, str, int]], dict[str, list[int]]]] = []


class AnchorSearch:
    """Candidates anchor by anchor for one planned request."""

    def __init__(self, planner: Planner, layout: Layout) -> None:
        self.planner = planner
        self.m = planner.m
        self.layout = layout
        self.isolate = planner.isolate
        self._ancestors: dict[int, frozenset[int]] = {}
        self.placements = 0  # providers tried in a slot, over all anchors: the work done
        # Tree shape -> the candidates found at a tree of that shape, as member positions. Only without
        # sharing providers: then every option of an anchor lies in its own tree.
        self._memo: dict[tuple[int, ...], list[tuple[list[tuple[int, str, int]], dict[str, list[int]]]]] | None = (
            None if self.m.sharing else {})
        self.reused = 0  # anchors answered from another tree of the same shape

    def ancestors(self, pid: int) -> frozenset[int]:
        """``pid`` and every provider above it."""
        found = self._ancestors.get(pid)
        if found is None:
            provs = self.m.providers
            chain: list[int] = []
            cur: int | None = pid
            while cur is not None and len(chain) < 1000:
                chain.append(cur)
                rec = provs.get(cur)
                cur = rec.parent_id if rec is not None else None
            found = self._ancestors[pid] = frozenset(chain)
        return found

    def _slot_options(self, anchor: int) -> list[list[ProviderRecord]] | None:
        """The options of every slot at ``anchor``, in layout order; None when one has none."""
        out: list[list[ProviderRecord]] = []
        for plan, k, _ in self.layout.entries:
            opts = self.planner.granular_options(plan, anchor) if k is None else self.planner.rc_options(plan, k, anchor)
            if not opts:
                return None
            out.append(opts)
        return out

    def singleton(self, anchor: int) -> Candidate | None:
        """The one possible candidate of a childless, non-sharing root with no sharing provider in play.

        Building the anchor set already checked traits, aggregates and classes for
        such an anchor; what is left is capacity (cached on the immutable record).
        """
        lay = self.layout
        rec = self.m.providers[anchor]
        ok = rec.cache.get(lay.fit_key)
        if ok is None:
            ok = single_fits(rec, lay)
            if len(rec.cache) > 32:
                rec.cache.clear()
            rec.cache[lay.fit_key] = ok
        return Candidate(anchor, None, None, False, rec, lay.single) if ok else None

    def candidates_at(self, anchor: int) -> Iterator[Candidate]:
        lay = self.layout
        if lay.fast and len(self.m.tree_members(anchor)) == 1 and anchor not in self.m.sharing:
            cand = self.singleton(anchor)
            if cand is not None:
                yield cand
            return
        memo = self._memo
        if memo is None:
            yield from self._search_at(anchor)
            return
        # Options are built from the members in id order, so the search at a tree of the same shape
        # yields the same candidates, in the same order, at the same member positions.
        members = self.planner.members_sorted(anchor)
        provs = self.m.providers
        pos = {pid: i for i, pid in enumerate(members)}
        shape_id = self.m.shape_id
        shape: list[int] = []
        for pid in members:
            rec = provs[pid]
            parent = rec.parent_id
            shape.append(-1 if parent is None else pos.get(parent, -1))
            shape.append(shape_id(rec))
        key = tuple(shape)
        known = memo.get(key)
        if known is not None and known is not _TOO_MANY:
            self.reused += 1
            recs = [provs[pid] for pid in members]
            for parts, mapped in known:
                yield Candidate(anchor, [(recs[i], rc, amount) for i, rc, amount in parts],
                                {suffix: [recs[i] for i in ix] for suffix, ix in mapped.items()}, False)
            return
        kept: list[tuple[list[tuple[int, str, int]], dict[str, list[int]]]] | None = None if known is not None else []
        for cand in self._search_at(anchor):
            if kept is not None:
                if len(kept) < MEMO_MAX:
                    kept.append(([(pos[rec.id], rc, amount) for rec, rc, amount in cand.parts],
                                 {suffix: [pos[r.id] for r in recs] for suffix, recs in cand.mappings.items()}))
                else:
                    kept = None
                    memo[key] = _TOO_MANY
            yield cand
        # Reached only when the caller took every candidate (a limit stops earlier): the list is whole.
        if kept is not None:
            memo[key] = kept

    def _search_at(self, anchor: int) -> Iterator[Candidate]:
        lay = self.layout
        options = self._slot_options(anchor)
        if options is None:
            return
        product = 1
        for opts in options:
            product *= len(opts)
        if product == 1:
            # One option per slot: a single combination to check.
            st = State(lay, self, options, careful=False)
            self.placements += lay.n
            if st.try_all():
                yield self._candidate(anchor, st.chosen)
            return
        st = State(lay, self, options, careful=product >= PRUNE_THRESHOLD)
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
                self.placements += 1
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

    def same_subtree(self, ids: set[int]) -> bool:
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


def single_fits(rec: ProviderRecord, lay: Layout) -> bool:
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


def matching_size(options: list[list[int]]) -> int:
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


class State:
    """What is placed so far in one anchor's backtracking search, and the checks on it."""

    def __init__(self, layout: Layout, search: AnchorSearch, options: list[list[ProviderRecord]], *, careful: bool) -> None:
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
            if not self.search.same_subtree({chosen[j].id for j in self.subtrees[k]}):  # type: ignore[union-attr]
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
                if matching_size(matching) < len(matching):
                    return False
            elif len(set().union(*matching)) < len(matching):
                return False
        return True
