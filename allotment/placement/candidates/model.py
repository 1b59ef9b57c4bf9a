"""One worker's in-memory read model of the provider graph, refreshed from the change log.

What it holds, per provider: uuid, generation, parent and root, inventory per
resource class with its capacity data, usage per class, trait names and
aggregate uuids. Indexes: providers by class, by trait and by aggregate, the
members of every tree, the children of every provider, the sharing providers
(trait ``MISC_SHARES_VIA_AGGREGATE``) and, computed on demand, the roots each
sharing provider can serve through its aggregates.

Freshness. Every write transaction inserts ``(provider_id)`` rows into
``placement_changes`` (NULL: reload everything). ``refresh()``, called before
each query, costs one statement when nothing changed: it reads the rows above its
high-water mark with the log's oldest and newest ids, and reloads just the providers they name; for a
provider whose rows all say ``usage_only`` (allocation writes) only its usage and
generation, in one statement, keeping the rest of its record.

Ids are allocated before commit, so a transaction holding a smaller id can
become visible after one holding a larger id. Ids below the high-water mark not
seen yet are kept as *gaps* and asked for again on every refresh for
``GAP_TIMEOUT`` seconds (after that the transaction is taken to have rolled
back). Writers prune old rows now and then (``domain.changes``; never the newest
row): a refresh only ever reads. A reader that finds the oldest
remaining id above its high-water mark (or above a gap it still waits for) may
have missed pruned rows, so it reloads everything; so does a reader that finds
the log behind its mark (log reset).

A stale model can offer a candidate whose claim then fails with a 409: claims
are always checked again in the database. It converges on the next refresh.

Threads: ``refresh_lock`` serialises refreshes (database reads happen under it,
outside ``lock``); ``lock`` guards the structures and is held while changes are
applied and while a search runs. Provider records are never mutated once
published; a reload replaces them, so a caller may read records it got from a
search after releasing ``lock``.
"""

from __future__ import annotations

import bisect
import threading
import time
from collections.abc import Iterable, Sequence
from collections.abc import Set as AbstractSet
from typing import Any

import os_resource_classes
import os_traits
import sqlalchemy as sa
from sqlalchemy.engine import Connection

from allotment.infra.chunks import chunked
from allotment.infra.database import Database
from allotment.placement.store.tables import (
    aggregates,
    allocations,
    changes,
    inventories,
    provider_aggregates,
    provider_traits,
    providers,
    resource_classes,
    traits,
)

__all__ = ["ClassCapacity", "ProviderRecord", "ReadModel", "SHARING_TRAIT", "load_providers", "reload_usage"]

SHARING_TRAIT = "MISC_SHARES_VIA_AGGREGATE"

GAP_TIMEOUT = 30.0  # seconds a missing change id is waited for
GAP_WINDOW = 1000  # on a full load, ids this far below the newest are checked for gaps
MAX_GAPS = 2000  # at most this many gaps are tracked (oldest dropped first)

_EMPTY: frozenset[int] = frozenset()
_EMPTY_NAMES: frozenset[str] = frozenset()
_NO_INVENTORY: dict[str, ClassCapacity] = {}  # shared by records without inventory; never written
_STANDARD_CLASSES = frozenset(os_resource_classes.STANDARDS)
_STANDARD_TRAITS = frozenset(os_traits.get_traits())


class ClassCapacity:
    """The capacity rules of one resource class on one provider in the read model.

    ``cap`` is (total - reserved) * allocation_ratio; ``capacity`` its integer part, as summaries report it.
    """

    __slots__ = ("total", "reserved", "min_unit", "max_unit", "step_size", "ratio", "cap", "capacity")

    def __init__(self, total: int, reserved: int, min_unit: int, max_unit: int, step_size: int, ratio: float) -> None:
        self.total = total
        self.reserved = reserved
        self.min_unit = min_unit
        self.max_unit = max_unit
        self.step_size = step_size
        self.ratio = ratio
        self.cap = (total - reserved) * ratio
        self.capacity = int(self.cap)  # what provider summaries report

    def __repr__(self) -> str:
        return f"ClassCapacity(total={self.total}, reserved={self.reserved}, cap={self.cap})"


class ProviderRecord:
    """A provider as the search sees it. Never mutated after it is published."""

    __slots__ = (
        "id",
        "uuid",
        "generation",
        "parent_id",
        "root_id",
        "inv",
        "used",
        "traits",
        "trait_list",
        "aggs",
        "sharing",
        "cache",
    )

    def __init__(self, pid: int, uuid: str, generation: int, parent_id: int | None, root_id: int | None,
                 used: dict[str, int] | None = None) -> None:
        self.id = pid
        self.uuid = uuid
        self.generation = generation
        self.parent_id = parent_id
        self.root_id = root_id if root_id is not None else pid
        self.inv: dict[str, ClassCapacity] = _NO_INVENTORY
        self.used: dict[str, int] = {} if used is None else used
        self.traits: frozenset[str] = _EMPTY_NAMES
        self.trait_list: tuple[str, ...] = ()  # in trait id order, as summaries list them
        self.aggs: frozenset[str] = _EMPTY_NAMES
        self.sharing = False
        # Derived data, by key: the engine's fit verdicts (int keys), the handler's
        # summary fragments (tuple keys), the model's shape id ("shape"). Dropped with the record.
        self.cache: dict[Any, Any] = {}

    def fits(self, rc: str, amount: int) -> bool:
        """Whether one more allocation of ``amount`` of ``rc`` fits (capacity, min/max unit, step)."""
        inv = self.inv.get(rc)
        if inv is None:
            return False
        return (
            inv.min_unit <= amount <= inv.max_unit
            and amount % inv.step_size == 0
            and self.used.get(rc, 0) + amount <= inv.cap
        )

    def __repr__(self) -> str:
        return f"ProviderRecord(id={self.id}, uuid={self.uuid}, root={self.root_id}, parent={self.parent_id})"


def load_providers(conn: Connection, ids: Iterable[int] | None = None) -> dict[int, ProviderRecord]:
    """Provider records from the database: all of them (``ids`` None) or those named.

    A full load reads rows through the driver's cursor as plain tuples (SQLAlchemy's
    row objects cost more than the rest of it), and what providers share is built once:
    the capacity of a class, a whole inventory, a trait set and an aggregate set
    are each one object for every provider that has the same. Records are never
    mutated once published, so sharing is safe; ``used`` is a fresh dict only for
    providers with allocations.
    """
    class_names: dict[int, str] = {
        rc_id: name for rc_id, name in conn.execute(sa.select(resource_classes.c.id, resource_classes.c.name))
    }
    id_lists: list[list[int] | None] = [None] if ids is None else list(chunked(ids))
    out: dict[int, ProviderRecord] = {}
    p, inv, alloc = providers, inventories, allocations
    pt, pa = provider_traits, provider_aggregates
    dialect = conn.dialect
    capacities: dict[tuple[Any, ...], tuple[str, ClassCapacity] | None] = {}
    inventory_dicts: dict[tuple[tuple[str, ClassCapacity], ...], dict[str, ClassCapacity]] = {}
    trait_sets: dict[tuple[int, ...], tuple[tuple[str, ...], frozenset[str], bool]] = {}
    agg_sets: dict[tuple[int, ...], frozenset[str]] = {}
    trait_names: dict[int, str] | None = None
    agg_uuids: dict[int, str] | None = None
    empty_used: dict[str, int] = {}
    for chunk in id_lists:

        def rows(q: sa.Select[Any], column: sa.ColumnElement[Any], chunk: list[int] | None = chunk) -> Sequence[Any]:
            if chunk is not None:  # a few providers: SQLAlchemy's cached statement, bound ids
                return conn.execute(q.where(column.in_(chunk))).all()
            # Everything: the driver's cursor (the transaction's own) hands out plain tuples.
            cur = conn.connection.dbapi_connection.cursor()  # type: ignore[union-attr]
            try:
                cur.execute(str(q.compile(dialect=dialect)))
                return cur.fetchall()
            finally:
                cur.close()

        inv_of: dict[int, list[tuple[str, ClassCapacity]]] = {}
        for row in rows(
            sa.select(
                inv.c.resource_provider_id,
                inv.c.resource_class_id,
                inv.c.total,
                inv.c.reserved,
                inv.c.min_unit,
                inv.c.max_unit,
                inv.c.step_size,
                inv.c.allocation_ratio,
            ),
            inv.c.resource_provider_id,
        ):
            key = row[1:]
            entry = capacities.get(key)
            if entry is None:
                if key in capacities:
                    continue
                name = class_names.get(row[1])
                entry = None if name is None else (
                    name, ClassCapacity(row[2], row[3], row[4], row[5], row[6], float(row[7])))
                capacities[key] = entry
                if entry is None:
                    continue
            found = inv_of.get(row[0])
            if found is None:
                inv_of[row[0]] = [entry]
            else:
                found.append(entry)
        used_of: dict[int, dict[str, int]] = {}
        for pid, rc_id, used in rows(
            sa.select(alloc.c.resource_provider_id, alloc.c.resource_class_id, sa.func.sum(alloc.c.used)).group_by(
                alloc.c.resource_provider_id, alloc.c.resource_class_id
            ),
            alloc.c.resource_provider_id,
        ):
            name = class_names.get(rc_id)
            if name is not None and used:
                found_used = used_of.get(pid)
                if found_used is None:
                    used_of[pid] = {name: int(used)}
                else:
                    found_used[name] = int(used)
        # Ids, not names, from the database (no joins, no string per row); names come from the small tables.
        traits_of: dict[int, list[int]] = {}
        for pid, tid in rows(
            sa.select(pt.c.resource_provider_id, pt.c.trait_id).order_by(pt.c.resource_provider_id, pt.c.trait_id),
            pt.c.resource_provider_id,
        ):
            found_traits = traits_of.get(pid)
            if found_traits is None:
                traits_of[pid] = [tid]
            else:
                found_traits.append(tid)
        aggs_of: dict[int, list[int]] = {}
        for pid, agg_id in rows(sa.select(pa.c.resource_provider_id, pa.c.aggregate_id), pa.c.resource_provider_id):
            found_aggs = aggs_of.get(pid)
            if found_aggs is None:
                aggs_of[pid] = [agg_id]
            else:
                found_aggs.append(agg_id)
        if traits_of and trait_names is None:
            trait_names = dict(conn.execute(sa.select(traits.c.id, traits.c.name)).all())
        if aggs_of and agg_uuids is None:
            agg_uuids = dict(conn.execute(sa.select(aggregates.c.id, aggregates.c.uuid)).all())
        no_traits: tuple[tuple[str, ...], frozenset[str], bool] = ((), _EMPTY_NAMES, False)
        for pid, uuid, gen, parent, root in rows(
            sa.select(p.c.id, p.c.uuid, p.c.generation, p.c.parent_provider_id, p.c.root_provider_id), p.c.id
        ):
            rec = ProviderRecord(pid, uuid, gen, parent, root, used=used_of.get(pid, empty_used))
            entries = inv_of.get(pid)
            if entries is not None:
                inv_key = tuple(entries)
                shared_inv = inventory_dicts.get(inv_key)
                if shared_inv is None:
                    shared_inv = inventory_dicts[inv_key] = dict(entries)
                rec.inv = shared_inv
            tids = traits_of.get(pid)
            if tids is not None:
                trait_key = tuple(tids)
                shared_traits = trait_sets.get(trait_key)
                if shared_traits is None:
                    assert trait_names is not None
                    names = tuple(trait_names[t] for t in trait_key if t in trait_names)
                    frozen = frozenset(names)
                    shared_traits = trait_sets[trait_key] = (names, frozen, SHARING_TRAIT in frozen)
            else:
                shared_traits = no_traits
            rec.trait_list, rec.traits, rec.sharing = shared_traits
            agg_ids = aggs_of.get(pid)
            if agg_ids is not None:
                agg_key = tuple(sorted(agg_ids))
                shared_aggs = agg_sets.get(agg_key)
                if shared_aggs is None:
                    assert agg_uuids is not None
                    shared_aggs = agg_sets[agg_key] = frozenset(agg_uuids[a] for a in agg_key if a in agg_uuids)
                rec.aggs = shared_aggs
            out[pid] = rec
    return out


_USAGE = (
    sa.select(providers.c.id, providers.c.generation, resource_classes.c.name, sa.func.sum(allocations.c.used))
    .select_from(
        providers.outerjoin(allocations, allocations.c.resource_provider_id == providers.c.id).outerjoin(
            resource_classes, resource_classes.c.id == allocations.c.resource_class_id
        )
    )
    .where(providers.c.id.in_(sa.bindparam("ids", expanding=True)))
    .group_by(providers.c.id, providers.c.generation, resource_classes.c.name)
)


def reload_usage(
    conn: Connection, ids: Iterable[int], current: dict[int, ProviderRecord]
) -> tuple[dict[int, ProviderRecord], set[int]]:
    """New records for providers whose allocations alone changed: the usage and generation
    from the database, everything else shared with their ``current`` record.

    Returns the records and the ids that need a full load instead (not in ``current``,
    or gone from the database). One statement per chunk of ids.
    """
    known = [pid for pid in ids if pid in current]
    missing = {pid for pid in ids if pid not in current}
    generation: dict[int, int] = {}
    used_of: dict[int, dict[str, int]] = {}
    for chunk in chunked(known):
        for pid, gen, name, used in conn.execute(_USAGE, {"ids": chunk}):
            generation[pid] = gen
            if name is not None and used:
                used_of.setdefault(pid, {})[name] = int(used)
    out: dict[int, ProviderRecord] = {}
    for pid in known:
        gen = generation.get(pid)
        if gen is None:  # deleted meanwhile: the full load drops it
            missing.add(pid)
            continue
        old = current[pid]
        rec = ProviderRecord(pid, old.uuid, gen, old.parent_id, old.root_id, used=used_of.get(pid))
        rec.inv, rec.traits, rec.trait_list, rec.aggs, rec.sharing = (
            old.inv, old.traits, old.trait_list, old.aggs, old.sharing
        )
        out[pid] = rec
    return out, missing


class _Graph:
    """The indexed structures. Replaced wholesale on a full load, updated in place otherwise."""

    def __init__(self) -> None:
        self.providers: dict[int, ProviderRecord] = {}
        self.by_uuid: dict[str, int] = {}
        self.by_rc: dict[str, set[int]] = {}
        self.by_trait: dict[str, set[int]] = {}
        self.by_agg: dict[str, set[int]] = {}
        self.children: dict[int, set[int]] = {}
        self.tree: dict[int, set[int]] = {}  # root id -> ids of every provider in that tree
        self.roots: set[int] = set()
        self.sorted_roots: list[int] = []  # maintained by ReadModel (apply / full load)
        self.sharing: set[int] = set()
        self.nested = 0  # providers that have a parent

    @staticmethod
    def _add(index: dict[Any, set[int]], key: Any, pid: int) -> None:
        s = index.get(key)
        if s is None:
            index[key] = {pid}
        else:
            s.add(pid)

    @staticmethod
    def _remove(index: dict[Any, set[int]], key: Any, pid: int) -> None:
        s = index.get(key)
        if s is not None:
            s.discard(pid)
            if not s:
                del index[key]

    @classmethod
    def build(cls, records: Iterable[ProviderRecord]) -> _Graph:
        """A graph of ``records`` (the same as inserting each, faster)."""
        g = cls()
        providers, by_uuid, by_rc, by_trait, by_agg = g.providers, g.by_uuid, g.by_rc, g.by_trait, g.by_agg
        children, tree, roots, sharing = g.children, g.tree, g.roots, g.sharing
        nested = 0
        for rec in records:
            pid = rec.id
            providers[pid] = rec
            by_uuid[rec.uuid] = pid
            for key in rec.inv:
                found = by_rc.get(key)
                if found is None:
                    by_rc[key] = {pid}
                else:
                    found.add(pid)
            for key in rec.traits:
                found = by_trait.get(key)
                if found is None:
                    by_trait[key] = {pid}
                else:
                    found.add(pid)
            for key in rec.aggs:
                found = by_agg.get(key)
                if found is None:
                    by_agg[key] = {pid}
                else:
                    found.add(pid)
            found = tree.get(rec.root_id)
            if found is None:
                tree[rec.root_id] = {pid}
            else:
                found.add(pid)
            if rec.parent_id is None:
                roots.add(pid)
            else:
                nested += 1
                found = children.get(rec.parent_id)
                if found is None:
                    children[rec.parent_id] = {pid}
                else:
                    found.add(pid)
            if rec.sharing:
                sharing.add(pid)
        g.nested = nested
        g.sorted_roots = sorted(roots)
        return g

    def insert(self, rec: ProviderRecord) -> None:
        pid = rec.id
        self.providers[pid] = rec
        self.by_uuid[rec.uuid] = pid
        for rc in rec.inv:
            self._add(self.by_rc, rc, pid)
        for t in rec.traits:
            self._add(self.by_trait, t, pid)
        for a in rec.aggs:
            self._add(self.by_agg, a, pid)
        self._add(self.tree, rec.root_id, pid)
        if rec.parent_id is None:
            self.roots.add(pid)
        else:
            self.nested += 1
            self._add(self.children, rec.parent_id, pid)
        if rec.sharing:
            self.sharing.add(pid)

    def discard(self, pid: int) -> ProviderRecord | None:
        rec = self.providers.pop(pid, None)
        if rec is None:
            return None
        if self.by_uuid.get(rec.uuid) == pid:
            del self.by_uuid[rec.uuid]
        for rc in rec.inv:
            self._remove(self.by_rc, rc, pid)
        for t in rec.traits:
            self._remove(self.by_trait, t, pid)
        for a in rec.aggs:
            self._remove(self.by_agg, a, pid)
        self._remove(self.tree, rec.root_id, pid)
        if rec.parent_id is None:
            self.roots.discard(pid)
        else:
            self.nested -= 1
            self._remove(self.children, rec.parent_id, pid)
        self.sharing.discard(pid)
        return rec


def _changes_since(wanted: sa.ColumnElement[bool]) -> sa.CompoundSelect:
    return sa.union_all(
        sa.select(changes.c.id, changes.c.provider_id, changes.c.usage_only, sa.literal(0).label("kind")).where(wanted),
        sa.select(sa.func.min(changes.c.id), sa.null(), sa.null(), sa.literal(1).label("kind")),
        sa.select(sa.func.max(changes.c.id), sa.null(), sa.null(), sa.literal(2).label("kind")),
    )


# Built once: every refresh runs it (building it cost more than running it).
_CHANGES_SINCE = _changes_since(changes.c.id > sa.bindparam("hwm"))


class ReadModel:
    """The provider graph of one worker process. See the module docstring."""

    def __init__(self, store: Database) -> None:
        self.store = store
        self.lock = threading.Lock()
        self.refresh_lock = threading.Lock()
        self._g = _Graph()
        self.loaded = False
        self.hwm = 0  # highest change id applied
        self.gaps: dict[int, float] = {}  # change id -> monotonic time first found missing
        self.topology_version = 0  # bumped when trees, aggregates or sharing change
        self._anchors: dict[int, frozenset[int]] = {}
        self._anchors_version = -1
        self.full_loads = 0  # counters, for tests and diagnostics
        self.partial_loads = 0
        # Small ints for what a provider record holds (see ``shape_id``); searches use them under ``lock``.
        self._shapes: dict[tuple[Any, ...], int] = {}
        self._shapes_epoch = 0

    # ---- read access (call with ``lock`` held) ------------------------------------------

    @property
    def providers(self) -> dict[int, ProviderRecord]:
        return self._g.providers

    @property
    def by_uuid(self) -> dict[str, int]:
        return self._g.by_uuid

    @property
    def by_rc(self) -> dict[str, set[int]]:
        return self._g.by_rc

    @property
    def by_trait(self) -> dict[str, set[int]]:
        return self._g.by_trait

    @property
    def by_agg(self) -> dict[str, set[int]]:
        return self._g.by_agg

    @property
    def roots(self) -> set[int]:
        return self._g.roots

    @property
    def sharing(self) -> set[int]:
        return self._g.sharing

    @property
    def sorted_roots(self) -> list[int]:
        return self._g.sorted_roots

    @property
    def has_trees(self) -> bool:
        return self._g.nested > 0

    @property
    def trees(self) -> dict[int, set[int]]:
        """Root id -> ids of the providers of its tree."""
        return self._g.tree

    def tree_members(self, root_id: int) -> set[int] | frozenset[int]:
        return self._g.tree.get(root_id, _EMPTY)

    def children(self, pid: int) -> set[int] | frozenset[int]:
        return self._g.children.get(pid, _EMPTY)

    def roots_of(self, ids: AbstractSet[int]) -> AbstractSet[int]:
        """Root ids of the trees of ``ids`` (``ids`` itself when there are no trees: do not change it)."""
        if not self._g.nested:
            return ids
        provs = self._g.providers
        return {provs[p].root_id for p in ids}

    def anchors_of(self, pid: int) -> frozenset[int]:
        """Roots of every provider sharing an aggregate with ``pid`` (itself included)."""
        if self._anchors_version != self.topology_version:
            self._anchors = {}
            self._anchors_version = self.topology_version
        found = self._anchors.get(pid)
        if found is None:
            g = self._g
            rec = g.providers.get(pid)
            members: set[int] = set()
            if rec is not None:
                for agg in rec.aggs:
                    members |= g.by_agg.get(agg, set())
            found = frozenset(self.roots_of(members))
            self._anchors[pid] = found
        return found

    # ---- names -------------------------------------------------------------------------

    def existing_classes(self, names: Iterable[str]) -> set[str]:
        """Which of ``names`` are resource classes (may ask the database; call without ``lock``)."""
        return self._existing(set(names), _STANDARD_CLASSES, self._g.by_rc, resource_classes)

    def existing_traits(self, names: Iterable[str]) -> set[str]:
        """Which of ``names`` are traits (may ask the database; call without ``lock``)."""
        return self._existing(set(names), _STANDARD_TRAITS, self._g.by_trait, traits)

    def _existing(
        self, names: set[str], standard: frozenset[str], used: dict[str, set[int]], table: sa.Table
    ) -> set[str]:
        # Standard names cannot be deleted; a name some provider uses exists. Ask about the rest.
        known = {n for n in names if n in standard or n in used}
        unknown = sorted(names - known)
        if unknown:
            with self.store.read() as conn:
                known.update(conn.execute(sa.select(table.c.name).where(table.c.name.in_(unknown))).scalars())
        return known

    def shape_id(self, rec: ProviderRecord) -> int:
        """A small int equal for records that hold the same (inventory, usage, traits, aggregates, sharing).

        Two trees whose members have equal shapes in the same places (parents
        included) give the same candidates, position for position: the search
        reuses one tree's answer for the others. Call with ``lock`` held. The
        table is emptied when it outgrows the model (usages keep making new
        shapes); ids cached on records carry the epoch they belong to.
        """
        cached = rec.cache.get("shape")
        if cached is not None and cached[0] == self._shapes_epoch:
            return cached[1]
        content = (
            tuple(sorted((rc, c.total, c.reserved, c.min_unit, c.max_unit, c.step_size, c.ratio)
                         for rc, c in rec.inv.items())),
            tuple(sorted(rec.used.items())),
            rec.traits,
            rec.aggs,
            rec.sharing,
        )
        shapes = self._shapes
        if len(shapes) > 2 * len(self._g.providers) + 1000:
            shapes.clear()
            self._shapes_epoch += 1
        found = shapes.get(content)
        if found is None:
            found = shapes[content] = len(shapes)
        rec.cache["shape"] = (self._shapes_epoch, found)
        return found

    # ---- refresh -----------------------------------------------------------------------

    def refresh(self) -> None:
        """Bring the model up to date with the committed database state."""
        with self.refresh_lock:
            with self.store.read() as conn:
                if not self.loaded:
                    self._full_load(conn)
                else:
                    self._catch_up(conn)

    def invalidate(self) -> None:
        """Forget everything; the next refresh reloads from scratch."""
        with self.refresh_lock:
            self.loaded = False

    def _catch_up(self, conn: Connection) -> None:
        # One statement (one snapshot): the rows past the mark (and the gaps), the oldest id and the newest.
        if self.gaps:
            result = conn.execute(
                _changes_since(sa.or_(changes.c.id > self.hwm, changes.c.id.in_(sorted(self.gaps))))
            )
        else:
            result = conn.execute(_CHANGES_SINCE, {"hwm": self.hwm})
        rows = result.all()
        lo = next((r[0] for r in rows if r[3] == 1), None)
        hi = next((r[0] for r in rows if r[3] == 2), None)
        if hi is None:
            if self.hwm:  # the log was emptied under us
                self._full_load(conn)
            return
        if hi < self.hwm:  # the log went backwards: reset
            self._full_load(conn)
            return
        if hi == self.hwm and not self.gaps:
            return
        entries = [(r[0], r[1]) for r in rows if r[3] == 0]
        if lo is None:
            if self.hwm:
                self._full_load(conn)
            return
        if lo > self.hwm + 1 or any(g < lo for g in self.gaps):
            # Rows we never saw may have been pruned.
            self._full_load(conn)
            return
        stamp = time.monotonic()
        seen = {cid for cid, _ in entries}
        top = max([self.hwm, *seen])
        for cid in seen:
            self.gaps.pop(cid, None)
        for cid in range(self.hwm + 1, top):
            if cid not in seen:
                self.gaps[cid] = stamp
        for cid, first in list(self.gaps.items()):
            if stamp - first > GAP_TIMEOUT:
                del self.gaps[cid]
        if len(self.gaps) > MAX_GAPS:
            for cid in sorted(self.gaps, key=self.gaps.__getitem__)[: len(self.gaps) - MAX_GAPS]:
                del self.gaps[cid]
        if any(pid is None for _, pid in entries):
            gaps = dict(self.gaps)
            self._full_load(conn)
            # Anything still missing below the new mark stays a gap.
            for cid, first in gaps.items():
                if cid <= self.hwm:
                    self.gaps.setdefault(cid, first)
            return
        # A provider only allocations changed keeps its inventories, traits, aggregates and place:
        # reread just its usage and generation (the common case: every claim). Any other change
        # logged for it in this batch means a full reread.
        changed = {pid for _, pid in entries}
        full = {r[1] for r in rows if r[3] == 0 and not r[2]}
        if changed:
            records, missing = reload_usage(conn, changed - full, self._g.providers)
            full |= missing
            if full:
                records.update(load_providers(conn, full))
            self.apply({pid: records.get(pid) for pid in changed})
        self.hwm = top

    def apply(self, updates: dict[int, ProviderRecord | None]) -> None:
        """Replace (or, for None, remove) the given providers."""
        with self.lock:
            g = self._g
            topo = False
            for pid, new in updates.items():
                old = g.discard(pid)
                if new is not None:
                    g.insert(new)
                was_root = old is not None and old.parent_id is None
                is_root = new is not None and new.parent_id is None
                if was_root != is_root:
                    i = bisect.bisect_left(g.sorted_roots, pid)
                    if is_root:
                        g.sorted_roots.insert(i, pid)
                    elif i < len(g.sorted_roots) and g.sorted_roots[i] == pid:
                        del g.sorted_roots[i]
                if (
                    old is None
                    or new is None
                    or old.root_id != new.root_id
                    or old.parent_id != new.parent_id
                    or old.aggs != new.aggs
                    or old.sharing != new.sharing
                ):
                    topo = True
            if topo:
                self.topology_version += 1
            self.partial_loads += 1

    def _full_load(self, conn: Connection) -> None:
        hi = conn.execute(sa.select(sa.func.max(changes.c.id))).scalar() or 0
        lo = conn.execute(sa.select(sa.func.min(changes.c.id))).scalar() or 0
        start = max(lo, hi - GAP_WINDOW + 1, 1)
        present = set(conn.execute(sa.select(changes.c.id).where(changes.c.id >= start)).scalars())
        graph = _Graph.build(load_providers(conn).values())
        stamp = time.monotonic()
        with self.lock:
            self._g = graph
            self.topology_version += 1
            self.full_loads += 1
        self.hwm = hi
        self.gaps = {cid: stamp for cid in range(start, hi) if cid not in present}
        self.loaded = True
