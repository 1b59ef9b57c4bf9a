"""Allocations: claims of consumers against provider inventories.

``replace_allocations`` is the one write path (PUT and POST /allocations, and the
reshaper). It runs in a single transaction:

    lock consumers and check their generations
      -> lock every provider touched, in id order (no deadlocks between claimers)
      -> replace the consumers' allocation rows
      -> check capacity, min_unit, max_unit and step_size against current usage
      -> bump the generations of touched providers and consumers
      -> delete touched consumers left without allocations

A consumer is touched when it is given allocations or loses the ones it held
(upstream's rule). A consumer asked for no allocations while holding none is
created if new, and otherwise left as it is: its row stays, at generation 0 if
new, and the next write must name that generation.

Because the providers are locked before usage is read, two claims against the
same provider serialize instead of both passing the check: no overcommit, on
any backend, with any number of writers.
"""

from __future__ import annotations

import datetime as dt
from collections import defaultdict
from dataclasses import dataclass, field

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from allotment.placement import errors
from allotment.placement.domain import changes, names
from allotment.placement.domain import consumers as consumer_ops
from allotment.placement.domain.common import inserted_id, now
from allotment.placement.domain.exceptions import BadRequest, Conflict, NotFound
from allotment.placement.store.tables import allocations, consumers, inventories, providers
from allotment.placement.store.tables import resource_classes as rc_t

__all__ = [
    "AllocationRow",
    "ConsumerAllocations",
    "MissingClass",
    "MissingProvider",
    "create_new_consumers",
    "delete_consumer_allocations",
    "for_consumer",
    "for_provider",
    "replace_allocations",
]


class MissingProvider(BadRequest):
    """An allocation names a provider that does not exist."""


class MissingClass(NotFound):
    """An allocation names a resource class that does not exist."""


@dataclass
class ConsumerAllocations:
    """The allocations one consumer should hold after the write (empty: none)."""

    uuid: str
    project_id: str | None
    user_id: str | None
    allocations: dict[str, dict[str, int]]  # provider uuid -> {class: amount}
    generation: int | None = None
    check_generation: bool = False  # microversion 1.28 and later
    consumer_type: str | None = None  # set from microversion 1.38


@dataclass
class AllocationRow:
    provider_uuid: str
    provider_generation: int
    resource_class: str
    used: int
    consumer_uuid: str
    consumer_generation: int | None
    project: str | None
    user: str | None
    consumer_type: str | None
    created_at: dt.datetime
    updated_at: dt.datetime | None = field(default=None)


def _generation_conflict(expected: object, got: object) -> Conflict:
    return Conflict(f"consumer generation conflict - expected {expected} but got {got}", errors.CONCURRENT_UPDATE)


@dataclass
class _ConsumerState:
    id: int
    generation: int
    created: bool  # inserted by this write: holds nothing yet, and already at its final generation


def _ensure_consumer(conn: Connection, req: ConsumerAllocations, defaults: tuple[str, str]) -> _ConsumerState:
    """Lock or create the consumer, checking the generation the caller gave."""
    project = req.project_id if req.project_id is not None else defaults[0]
    user = req.user_id if req.user_id is not None else defaults[1]
    project_id, user_id, type_id = consumer_ops.owner_ids(conn, project, user, req.consumer_type or None)
    existing = consumer_ops.lock_consumer(conn, req.uuid)
    if existing is None:
        if req.check_generation and req.generation is not None:
            raise _generation_conflict("null", req.generation)
        # Given allocations, the new consumer is touched by this write: insert it at the
        # generation it ends at (1) rather than insert at 0 and update.
        generation = 1 if req.allocations else 0
        try:
            # No savepoint: on a duplicate the whole write is refused and rolled back.
            new_id = _insert_consumer(conn, req.uuid, project_id, user_id, type_id, generation)
        except sa.exc.IntegrityError:
            # Another writer created it first; we were told it was new.
            raise Conflict(
                "consumer generation conflict - expected null but the consumer was created concurrently",
                errors.CONCURRENT_UPDATE,
            ) from None
        return _ConsumerState(new_id, generation, created=True)
    if req.check_generation and existing.generation != req.generation:
        raise _generation_conflict(existing.generation, req.generation)
    updates: dict[str, object] = {}
    if existing.project_id != project_id or existing.user_id != user_id:
        updates.update(project_id=project_id, user_id=user_id)
    if type_id is not None and existing.consumer_type_id != type_id:
        updates["consumer_type_id"] = type_id
    if updates:
        conn.execute(consumers.update().where(consumers.c.id == existing.id).values(**updates, updated_at=now()))
    return _ConsumerState(existing.id, existing.generation, created=False)


def _insert_consumer(
    conn: Connection, uuid: str, project_id: int, user_id: int, type_id: int | None, generation: int = 0
) -> int:
    return inserted_id(
        conn.execute(
            _INSERT_CONSUMER,
            {"uuid": uuid, "project_id": project_id, "user_id": user_id, "generation": generation,
             "consumer_type_id": type_id, "created_at": now()},
        )
    )


# Statements of the claim path, built once (building costs as much as running them on SQLite).
_INSERT_CONSUMER = consumers.insert()
_LOCK_PROVIDERS = (
    sa.select(providers.c.id, providers.c.uuid, providers.c.generation)
    .where(providers.c.uuid.in_(sa.bindparam("uuids", expanding=True)))
    .order_by(providers.c.id)
    .with_for_update()
)
_USED = (
    sa.select(sa.func.coalesce(sa.func.sum(allocations.c.used), 0))
    .where(
        allocations.c.resource_provider_id == inventories.c.resource_provider_id,
        allocations.c.resource_class_id == inventories.c.resource_class_id,
    )
    .scalar_subquery()
)
# Each inventory with its current usage, in one statement.
_INVENTORIES_USED = sa.select(
    inventories.c.resource_provider_id,
    inventories.c.resource_class_id,
    inventories.c.total,
    inventories.c.reserved,
    inventories.c.min_unit,
    inventories.c.max_unit,
    inventories.c.step_size,
    inventories.c.allocation_ratio,
    _USED.label("used"),
).where(
    inventories.c.resource_provider_id.in_(sa.bindparam("providers", expanding=True)),
    inventories.c.resource_class_id.in_(sa.bindparam("classes", expanding=True)),
)
_BUMP_PROVIDERS = (
    providers.update()
    .where(providers.c.id.in_(sa.bindparam("ids", expanding=True)))
    .values(generation=providers.c.generation + 1, updated_at=sa.bindparam("stamp"))
)


def create_new_consumers(conn: Connection, requests: list[ConsumerAllocations], defaults: tuple[str, str]) -> None:
    """Create, at generation 0, the consumers of ``requests`` that do not exist yet.

    For a write refused because it names a provider that does not exist: upstream
    creates the consumers before it looks the providers up, and keeps them.
    """
    for req in requests:
        if consumer_ops.find_consumer(conn, req.uuid) is not None:
            continue
        project = req.project_id if req.project_id is not None else defaults[0]
        user = req.user_id if req.user_id is not None else defaults[1]
        type_id = consumer_ops.ensure_consumer_type(conn, req.consumer_type) if req.consumer_type else None
        try:
            with conn.begin_nested():
                _insert_consumer(
                    conn, req.uuid, consumer_ops.ensure_project(conn, project), consumer_ops.ensure_user(conn, user),
                    type_id,
                )
        except sa.exc.IntegrityError:
            pass  # created meanwhile by another writer: it exists, which is all we want


def replace_allocations(
    conn: Connection, requests: list[ConsumerAllocations], defaults: tuple[str, str]
) -> None:
    """Make each consumer hold exactly the given allocations, atomically for all of them."""
    states = {req.uuid: _ensure_consumer(conn, req, defaults) for req in requests}

    # Providers: every one named, plus those the consumers held before (their usage changes too).
    # A consumer this write created holds nothing (allocation rows are only ever written and
    # removed together with their consumer's row), so a claim for a new consumer skips the look-up.
    named = {rp for req in requests for rp in req.allocations}
    uuids = [r.uuid for r in requests]
    existing = [u for u in uuids if not states[u].created]
    held_pairs = (
        conn.execute(
            sa.select(allocations.c.consumer_id, providers.c.uuid)
            .join(providers, providers.c.id == allocations.c.resource_provider_id)
            .where(allocations.c.consumer_id.in_(existing))
        ).all()
        if existing
        else []
    )
    held = {rp for _, rp in held_pairs}
    holders = {consumer for consumer, _ in held_pairs}
    emptied = {r.uuid for r in requests if not r.allocations}
    held_by_emptied = {rp for consumer, rp in held_pairs if consumer in emptied}
    touched = {r.uuid for r in requests if r.allocations} | holders
    rows = conn.execute(_LOCK_PROVIDERS, {"uuids": sorted(named | held)}).all()
    by_uuid = {r.uuid: r for r in rows}
    for req in requests:
        for rp in req.allocations:
            if rp not in by_uuid:
                raise MissingProvider(f"Allocation for resource provider '{rp}' that does not exist.")
    wanted_classes = {rc for req in requests for res in req.allocations.values() for rc in res}
    class_ids = names.class_ids(conn, wanted_classes)
    for rc in dict.fromkeys(rc for req in requests for res in req.allocations.values() for rc in res):
        if rc not in class_ids:  # the first unknown one in request order, as upstream
            raise MissingClass(f"No such resource class {rc}.")

    provider_ids = [r.id for r in rows]
    entries = _checked_entries(conn, requests, class_ids, holders)
    prev_usage = None  # nothing removed: the usage before the write is the usage now
    if holders:
        prev_usage = _usage(conn, provider_ids)
        conn.execute(allocations.delete().where(allocations.c.consumer_id.in_(sorted(holders))))
    _check_capacity(conn, entries, by_uuid, class_ids, prev_usage)

    stamp = now()
    inserts = [
        {
            "resource_provider_id": by_uuid[rp].id,
            "resource_class_id": class_ids[rc],
            "consumer_id": req.uuid,
            "used": used,
            "created_at": stamp,
        }
        for req in requests
        for rp, resources in req.allocations.items()
        for rc, used in resources.items()
        if used > 0
    ]
    if inserts:
        conn.execute(allocations.insert(), inserts)
    # Generations advance on the providers named in the request and on those whose
    # consumer is being emptied (upstream's rule; a provider merely losing usage
    # because its consumer moved elsewhere keeps its generation). The rows are locked,
    # so generation + 1 is the generation read above plus one.
    bumped = sorted(by_uuid[rp].id for rp in named | held_by_emptied)
    changes.touch(conn, provider_ids, usage_only=True)
    if bumped:
        conn.execute(_BUMP_PROVIDERS, {"ids": bumped, "stamp": stamp})
    for uuid, state in states.items():
        if uuid not in touched or state.created:  # a created consumer was inserted at its final generation
            continue
        result = conn.execute(
            consumers.update()
            .where(consumers.c.id == state.id, consumers.c.generation == state.generation)
            .values(generation=state.generation + 1, updated_at=stamp)
        )
        if result.rowcount != 1:
            raise Conflict(
                "Another thread concurrently updated the data. Please retry your update",
                errors.CONCURRENT_UPDATE,
            )
    # Touched consumers left holding nothing: their rows were deleted above and none inserted.
    holding = {row["consumer_id"] for row in inserts}
    empty = [u for u in uuids if u in touched and u not in holding]
    if empty:
        conn.execute(consumers.delete().where(consumers.c.uuid.in_(empty)))


def _usage(conn: Connection, provider_ids: list[int]) -> dict[tuple[int, int], int]:
    if not provider_ids:
        return {}
    rows = conn.execute(
        sa.select(allocations.c.resource_provider_id, allocations.c.resource_class_id, sa.func.sum(allocations.c.used))
        .where(allocations.c.resource_provider_id.in_(provider_ids))
        .group_by(allocations.c.resource_provider_id, allocations.c.resource_class_id)
    )
    return {(p, c): int(u) for p, c, u in rows}


def _checked_entries(
    conn: Connection, requests: list[ConsumerAllocations], class_ids: dict[str, int], holders: set[str]
) -> list[tuple[str, str, int]]:
    """(provider uuid, class, amount) in the order upstream checks them: the requests in
    order, and for a consumer asked for no allocations its current ones at amount 0
    (upstream's way of deleting them, which still takes part in the checks).
    Adds the classes of those current allocations to ``class_ids``. ``holders``: the
    consumers that hold allocations now."""
    emptied = [r.uuid for r in requests if not r.allocations and r.uuid in holders]
    held: dict[str, list[tuple[str, str]]] = defaultdict(list)
    if emptied:
        rows = conn.execute(
            sa.select(allocations.c.consumer_id, providers.c.uuid, rc_t.c.name, rc_t.c.id)
            .join(providers, providers.c.id == allocations.c.resource_provider_id)
            .join(rc_t, rc_t.c.id == allocations.c.resource_class_id)
            .where(allocations.c.consumer_id.in_(emptied))
            .order_by(allocations.c.id)
        )
        for consumer, rp, rc, rc_id in rows:
            held[consumer].append((rp, rc))
            class_ids[rc] = rc_id
    entries: list[tuple[str, str, int]] = []
    for req in requests:
        if req.allocations:
            entries += [(rp, rc, n) for rp, res in req.allocations.items() for rc, n in res.items()]
        else:
            entries += [(rp, rc, 0) for rp, rc in held[req.uuid]]
    return entries


def _check_capacity(
    conn: Connection,
    entries: list[tuple[str, str, int]],
    by_uuid: dict[str, sa.Row[int, str, int]],
    class_ids: dict[str, int],
    prev_usage: dict[tuple[int, int], int] | None,
) -> None:
    """Refuse allocations beyond capacity or outside min_unit/max_unit/step_size.

    In upstream's order, so the same problem is reported first: providers with no
    inventory of any class concerned, then each entry in turn, its capacity checked
    against what the entries so far ask of it. An allocation that leaves an already
    over-committed inventory less over-committed than before is let through, as
    upstream does. ``prev_usage``: the usage before the consumers' rows were removed
    (None: none were, it is the usage now).
    """
    if not entries:
        return
    provider_ids = sorted({by_uuid[rp].id for rp, _, _ in entries})
    inv = {
        (r.resource_provider_id, r.resource_class_id): r
        for r in conn.execute(_INVENTORIES_USED, {"providers": provider_ids, "classes": sorted(class_ids.values())})
    }
    # First every provider with no inventory of any class concerned, named together with
    # every class concerned (upstream lists both in set order; we sort).
    providers_with_inv = {p for p, _ in inv}
    missing = sorted({rp for rp, _, _ in entries if by_uuid[rp].id not in providers_with_inv})
    if missing:
        classes = ", ".join(sorted(class_ids, key=lambda rc: class_ids[rc]))
        raise Conflict(
            f"Unable to allocate inventory: Inventory for '{classes}' on resource provider '{', '.join(missing)}' "
            "invalid."
        )
    used_now = {key: int(r.used) for key, r in inv.items()}  # everyone else's (the consumers' rows are gone)
    if prev_usage is None:
        prev_usage = used_now
    asked: dict[tuple[int, int], int] = defaultdict(int)
    for rp, rc, amount in entries:
        key = (by_uuid[rp].id, class_ids[rc])
        asked[key] += amount
        if amount == 0:
            continue
        record = inv.get(key)
        if record is None:
            raise Conflict(f"Unable to allocate inventory: Inventory for '{rc}' on resource provider '{rp}' invalid.")
        if amount < record.min_unit or amount > record.max_unit or amount % record.step_size:
            raise Conflict(
                f"Unable to allocate inventory: Unable to create allocation for '{rc}' on resource "
                f"provider '{rp}'. The requested amount would violate inventory constraints."
            )
        capacity = (record.total - record.reserved) * record.allocation_ratio
        used = used_now.get(key, 0)
        if capacity < used + asked[key]:
            previous = prev_usage.get(key)
            if previous is not None and used + asked[key] <= previous:
                continue  # shrinking an existing overage is allowed
            raise Conflict(
                f"Unable to allocate inventory: Unable to create allocation for '{rc}' on resource "
                f"provider '{rp}'. The requested amount would exceed the capacity."
            )


_ROWS = (
    sa.select(
        providers.c.uuid,
        providers.c.generation,
        rc_t.c.name,
        allocations.c.used,
        allocations.c.consumer_id,
        consumers.c.generation,
        sa.null(),
        sa.null(),
        sa.null(),
        allocations.c.created_at,
        allocations.c.updated_at,
    )
    .select_from(allocations)
    .join(providers, providers.c.id == allocations.c.resource_provider_id)
    .join(rc_t, rc_t.c.id == allocations.c.resource_class_id)
    .outerjoin(consumers, consumers.c.uuid == allocations.c.consumer_id)
)


def for_provider(conn: Connection, provider_id: int) -> list[AllocationRow]:
    rows = conn.execute(_ROWS.where(allocations.c.resource_provider_id == provider_id).order_by(allocations.c.id))
    return [AllocationRow(*r) for r in rows]


def for_consumer(conn: Connection, consumer_uuid: str) -> list[AllocationRow]:
    rows = conn.execute(_ROWS.where(allocations.c.consumer_id == consumer_uuid).order_by(allocations.c.id)).all()
    if not rows:
        return []
    consumer = consumer_ops.find_consumer(conn, consumer_uuid)
    out = [AllocationRow(*r) for r in rows]
    for row in out:
        if consumer is not None:
            row.project, row.user, row.consumer_type = consumer.project, consumer.user, consumer.consumer_type
    return out


def delete_consumer_allocations(conn: Connection, consumer_uuid: str) -> None:
    """Remove every allocation of the consumer, and the consumer; NotFound when it holds none."""
    held = conn.execute(
        sa.select(allocations.c.resource_provider_id).where(allocations.c.consumer_id == consumer_uuid)
    ).scalars()
    changes.touch(conn, held, usage_only=True)
    result = conn.execute(allocations.delete().where(allocations.c.consumer_id == consumer_uuid))
    if result.rowcount == 0:
        raise NotFound(f"No allocations for consumer '{consumer_uuid}'")
    conn.execute(consumers.delete().where(consumers.c.uuid == consumer_uuid))
