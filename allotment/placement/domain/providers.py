"""Resource providers: creation, trees (parents and roots), lookups with filters, deletion.

Every write to a provider goes through ``bump_generation``, a compare-and-swap on
its generation in the same transaction: a writer that read a stale generation
gets a ``Conflict`` with ``placement.concurrent_update``, never a lost update.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, replace
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection
from sqlalchemy.exc import IntegrityError

from allotment.placement import errors
from allotment.placement.domain import changes, names
from allotment.placement.domain.common import MAX_INT, inserted_id, now
from allotment.placement.domain.exceptions import BadRequest, Conflict, NotFound, concurrent_update
from allotment.placement.store.tables import (
    aggregates,
    allocations,
    inventories,
    provider_aggregates,
    provider_traits,
    providers,
)

__all__ = [
    "Provider",
    "ProviderFilters",
    "bump_generation",
    "create_provider",
    "delete_provider",
    "get_provider",
    "list_providers",
    "on_copy",
    "providers_with_capacity",
    "update_provider",
]


@dataclass
class Provider:
    id: int
    uuid: str
    name: str
    generation: int
    parent_provider_uuid: str | None
    root_provider_uuid: str
    root_provider_id: int
    parent_provider_id: int | None
    created_at: dt.datetime
    updated_at: dt.datetime | None


@dataclass
class ProviderFilters:
    """The ``GET /resource_providers`` query, already parsed."""

    name: str | None = None
    uuid: str | None = None
    in_tree: str | None = None
    member_of: list[set[str]] | None = None  # each set: any of these aggregates
    forbidden_aggs: set[str] | None = None
    required_traits: list[set[str]] | None = None  # each set: any of these traits
    forbidden_traits: set[str] | None = None
    resources: dict[str, int] | None = None


_root = providers.alias("root")
_parent = providers.alias("parent")
_SELECT = sa.select(
    providers.c.id,
    providers.c.uuid,
    providers.c.name,
    providers.c.generation,
    _parent.c.uuid.label("parent_uuid"),
    _root.c.uuid.label("root_uuid"),
    providers.c.root_provider_id,
    providers.c.parent_provider_id,
    providers.c.created_at,
    providers.c.updated_at,
).select_from(
    providers.join(_root, _root.c.id == providers.c.root_provider_id).outerjoin(
        _parent, _parent.c.id == providers.c.parent_provider_id
    )
)


def _row(r: Sequence[Any]) -> Provider:
    return Provider(*r)


def find_provider(conn: Connection, uuid: str) -> Provider | None:
    row = conn.execute(_SELECT.where(providers.c.uuid == uuid)).first()
    return _row(row) if row else None


def get_provider(
    conn: Connection, uuid: str, message: str | None = None, code: str | None = None, *, prefix: str = ""
) -> Provider:
    """The provider, or NotFound (``prefix`` goes before the standard not-found message)."""
    provider = find_provider(conn, uuid)
    if provider is None:
        raise NotFound(message or f"{prefix}No resource provider with uuid {uuid} found", code)
    return provider


def on_copy(provider: Provider, op: Callable[..., object], conn: Connection, *args: object) -> Provider:
    """Run a provider write on a copy of ``provider``; return the copy.

    A write transaction may be retried after a lock conflict; working on a copy
    makes each attempt start from the generation the caller read.
    """
    mine = replace(provider)
    op(conn, mine, *args)
    return mine


def bump_generation(conn: Connection, provider: Provider, message: str | None = None) -> int:
    """Advance the provider's generation from the one we read; Conflict when someone else did first."""
    stamp = now()
    result = conn.execute(
        providers.update()
        .where(providers.c.id == provider.id, providers.c.generation == provider.generation)
        .values(generation=provider.generation + 1, updated_at=stamp)
    )
    if result.rowcount != 1:
        raise concurrent_update(
            message
            or "Another thread concurrently updated the resource provider data. Please retry your update"
        )
    provider.generation += 1
    provider.updated_at = stamp
    changes.touch(conn, [provider.id])
    return provider.generation


def _duplicate_message(conn: Connection, uuid: str, name: str) -> str:
    """The duplicate column, as upstream names it: the first unique constraint its insert
    breaks (the uuid's, then the name's), only one even when both are taken."""
    if conn.execute(sa.select(providers.c.id).where(providers.c.uuid == uuid)).first():
        return f"uuid: {uuid}"
    if conn.execute(sa.select(providers.c.id).where(providers.c.name == name)).first():
        return f"name: {name}"
    return ""


def create_provider(conn: Connection, uuid: str, name: str, parent_uuid: str | None = None) -> Provider:
    if not name:  # the schema lets "" through; upstream's object layer refuses it first
        raise BadRequest(
            f'Unable to create resource provider "{name}", {uuid}: Object action create failed because: '
            "name is required"
        )
    parent: Provider | None = None
    if parent_uuid is not None:
        if parent_uuid == uuid:
            raise BadRequest(
                f'Unable to create resource provider "{name}", {uuid}: Object action create failed because: '
                "parent provider UUID cannot be same as UUID. Please set parent provider UUID to None if "
                "there is no parent."
            )
        parent = find_provider(conn, parent_uuid)
        if parent is None:
            raise BadRequest(
                f'Unable to create resource provider "{name}", {uuid}: Object action create failed because: '
                "parent provider UUID does not exist."
            )
    # After the parent checks: upstream finds a duplicate only when its insert fails.
    dup = _duplicate_message(conn, uuid, name)
    if dup:
        raise Conflict(f"Conflicting resource provider {dup} already exists.", errors.DUPLICATE_NAME)
    stamp = now()
    try:
        new_id = inserted_id(conn.execute(
            providers.insert().values(
                uuid=uuid,
                name=name,
                generation=0,
                parent_provider_id=parent.id if parent else None,
                root_provider_id=parent.root_provider_id if parent else None,
                created_at=stamp,
            )
        ))
    except IntegrityError:
        # Lost a race with a concurrent create of the same uuid or name.
        raise Conflict(
            f"Conflicting resource provider {_duplicate_message(conn, uuid, name) or 'name: ' + name} already exists.",
            errors.DUPLICATE_NAME,
        ) from None
    if parent is None:
        # A root's updated_at is set at once, as upstream's second write (of the root id) sets it;
        # it shows as the Last-Modified of the provider's first update.
        conn.execute(
            providers.update().where(providers.c.id == new_id).values(root_provider_id=new_id, updated_at=stamp)
        )
    changes.touch(conn, [new_id])
    return Provider(
        id=new_id,
        uuid=uuid,
        name=name,
        generation=0,
        parent_provider_uuid=parent.uuid if parent else None,
        root_provider_uuid=parent.root_provider_uuid if parent else uuid,
        root_provider_id=parent.root_provider_id if parent else new_id,
        parent_provider_id=parent.id if parent else None,
        created_at=stamp,
        updated_at=None if parent else stamp,
    )


def _subtree_ids(conn: Connection, provider: Provider) -> list[int]:
    """Ids of the provider and all its descendants."""
    rows = conn.execute(
        sa.select(providers.c.id, providers.c.parent_provider_id).where(
            providers.c.root_provider_id == provider.root_provider_id
        )
    ).all()
    children: dict[int, list[int]] = {}
    for pid, parent in rows:
        if parent is not None:
            children.setdefault(parent, []).append(pid)
    out, stack = [], [provider.id]
    while stack:
        current = stack.pop()
        out.append(current)
        stack.extend(children.get(current, []))
    return out


_PARENT_SENTINEL = object()


def update_provider(
    conn: Connection,
    uuid: str,
    *,
    name: str | None = None,
    parent_uuid: object = _PARENT_SENTINEL,
    allow_reparenting: bool = False,
) -> Provider:
    """Rename and/or (re/un)parent a provider. Moving a subtree moves its root with it."""
    provider = get_provider(conn, uuid)
    values: dict[str, object] = {}
    new_root: tuple[int, str] | None = None
    if parent_uuid is not _PARENT_SENTINEL:
        if parent_uuid is not None:
            parent = find_provider(conn, str(parent_uuid))
            if parent is None:
                raise BadRequest(
                    f"Unable to save resource provider {uuid}: Object action create failed because: "
                    "parent provider UUID does not exist."
                )
            if provider.parent_provider_id is not None and provider.parent_provider_id != parent.id:
                if not allow_reparenting:
                    raise BadRequest(
                        f"Unable to save resource provider {uuid}: Object action update failed because: "
                        "re-parenting a provider is not currently allowed."
                    )
            if parent.id in _subtree_ids(conn, provider):
                raise BadRequest(
                    f"Unable to save resource provider {uuid}: Object action update failed because: "
                    "creating loop in the provider tree is not allowed."
                )
            if provider.parent_provider_id != parent.id:
                values["parent_provider_id"] = parent.id
                new_root = (parent.root_provider_id, parent.root_provider_uuid)
                provider.parent_provider_uuid = parent.uuid
                provider.parent_provider_id = parent.id
        elif provider.parent_provider_id is not None:
            if not allow_reparenting:
                raise BadRequest(
                    f"Unable to save resource provider {uuid}: Object action update failed because: "
                    "un-parenting a provider is not currently allowed."
                )
            values["parent_provider_id"] = None
            new_root = (provider.id, provider.uuid)
            provider.parent_provider_uuid = None
            provider.parent_provider_id = None
    if name is not None and name != provider.name:
        if conn.execute(sa.select(providers.c.id).where(providers.c.name == name)).first():
            raise Conflict(f"Conflicting resource provider {name} already exists.", errors.DUPLICATE_NAME)
        values["name"] = name
        provider.name = name
    # updated_at changes on the rows that change, as upstream's ORM writes only those: the
    # subtree rows whose root moves, and this row unless the update changes nothing.
    stamp = now()
    if new_root is not None:
        subtree = _subtree_ids(conn, provider)
        conn.execute(
            providers.update()
            .where(providers.c.id.in_(subtree), providers.c.root_provider_id != new_root[0])
            .values(root_provider_id=new_root[0], updated_at=stamp)
        )
        provider.root_provider_id, provider.root_provider_uuid = new_root
        changes.touch(conn, subtree)
    if values:
        values["updated_at"] = stamp
        try:
            conn.execute(providers.update().where(providers.c.id == provider.id).values(**values))
        except IntegrityError:
            raise Conflict(
                f"Conflicting resource provider {name} already exists.", errors.DUPLICATE_NAME
            ) from None
        provider.updated_at = stamp
    return provider


def delete_provider(conn: Connection, uuid: str) -> None:
    provider = get_provider(conn, uuid, f"No resource provider with uuid {uuid} found for delete")
    if conn.execute(
        sa.select(sa.literal(1)).where(providers.c.parent_provider_id == provider.id).limit(1)
    ).first():
        raise Conflict(
            f"Unable to delete parent resource provider {uuid}: It has child resource providers.",
            errors.PROVIDER_CANNOT_DELETE_PARENT,
        )
    if conn.execute(
        sa.select(sa.literal(1)).where(allocations.c.resource_provider_id == provider.id).limit(1)
    ).first():
        raise Conflict(
            f"Unable to delete resource provider {uuid}: Resource provider has allocations.",
            errors.PROVIDER_IN_USE,
        )
    for table in (inventories, provider_aggregates, provider_traits):
        conn.execute(table.delete().where(table.c.resource_provider_id == provider.id))
    conn.execute(
        providers.update().where(providers.c.id == provider.id).values(root_provider_id=None)
    )
    result = conn.execute(
        providers.delete().where(providers.c.id == provider.id, providers.c.generation == provider.generation)
    )
    if result.rowcount != 1:
        raise concurrent_update()
    changes.touch(conn, [provider.id])


# ---- queries ------------------------------------------------------------------------


def _usage_subquery(rc_ids: Iterable[int] | None = None) -> sa.Subquery:
    q = sa.select(
        allocations.c.resource_provider_id,
        allocations.c.resource_class_id,
        sa.func.sum(allocations.c.used).label("used"),
    ).group_by(allocations.c.resource_provider_id, allocations.c.resource_class_id)
    if rc_ids is not None:
        q = q.where(allocations.c.resource_class_id.in_(list(rc_ids)))
    return q.subquery("usage")


def providers_with_capacity(rc_id: int, amount: int) -> sa.Select[tuple[int]]:
    """Ids of providers whose inventory of ``rc_id`` can take ``amount`` more."""
    usage = _usage_subquery([rc_id])
    inv = inventories
    return (
        sa.select(inv.c.resource_provider_id)
        .select_from(
            inv.outerjoin(
                usage,
                sa.and_(
                    usage.c.resource_provider_id == inv.c.resource_provider_id,
                    usage.c.resource_class_id == inv.c.resource_class_id,
                ),
            )
        )
        .where(
            inv.c.resource_class_id == rc_id,
            (inv.c.total - inv.c.reserved) * inv.c.allocation_ratio
            >= sa.func.coalesce(usage.c.used, 0) + amount,
            inv.c.min_unit <= amount,
            inv.c.max_unit >= amount,
            sa.literal(amount) % inv.c.step_size == 0,
        )
    )


def _ids_in_aggregates(agg_uuids: set[str]) -> sa.Select[tuple[int]]:
    return (
        sa.select(provider_aggregates.c.resource_provider_id)
        .join(aggregates, aggregates.c.id == provider_aggregates.c.aggregate_id)
        .where(aggregates.c.uuid.in_(sorted(agg_uuids)))
    )


def list_providers(conn: Connection, filters: ProviderFilters | None = None) -> list[Provider]:
    f = filters or ProviderFilters()
    q = _SELECT
    if f.name is not None:
        q = q.where(providers.c.name == f.name)
    if f.uuid is not None:
        q = q.where(providers.c.uuid == f.uuid)
    if f.in_tree is not None:
        tree = find_provider(conn, f.in_tree)
        if tree is None:
            return []
        q = q.where(providers.c.root_provider_id == tree.root_provider_id)
    # Upstream's order, which decides between an error and an empty list: required
    # traits (empty when no provider has them, before forbidden traits are looked up),
    # forbidden traits, aggregates, resources. It names one unknown trait only.
    if f.required_traits:
        all_names = set().union(*f.required_traits)
        ids = names.trait_ids(conn, all_names)
        missing = all_names - set(ids)
        if missing:
            raise BadRequest(f"No such trait(s): {min(missing)}.")
        having = None
        for any_of in f.required_traits:
            having_any = sa.select(provider_traits.c.resource_provider_id).where(
                provider_traits.c.trait_id.in_([ids[n] for n in any_of])
            )
            having = having_any if having is None else having.where(
                provider_traits.c.resource_provider_id.in_(having_any)
            )
            q = q.where(providers.c.id.in_(having_any))
        if having is None or conn.execute(having.limit(1)).first() is None:
            return []
    if f.forbidden_traits:
        ids = names.trait_ids(conn, f.forbidden_traits)
        missing = set(f.forbidden_traits) - set(ids)
        if missing:
            raise BadRequest(f"No such trait(s): {min(missing)}.")
        q = q.where(
            providers.c.id.not_in(
                sa.select(provider_traits.c.resource_provider_id).where(
                    provider_traits.c.trait_id.in_(list(ids.values()))
                )
            )
        )
    if f.member_of:
        in_all = sa.select(providers.c.id)
        for any_of in f.member_of:
            in_all = in_all.where(providers.c.id.in_(_ids_in_aggregates(any_of)))
            q = q.where(providers.c.id.in_(_ids_in_aggregates(any_of)))
        if conn.execute(in_all.limit(1)).first() is None:
            return []  # before resources are looked up, as upstream
    if f.forbidden_aggs:
        q = q.where(providers.c.id.not_in(_ids_in_aggregates(f.forbidden_aggs)))
    if f.resources:
        ids = names.class_ids(conn, f.resources)
        for rc_name, amount in f.resources.items():
            if rc_name not in ids:
                raise NotFound(f"No such resource class {rc_name}.")
            if amount > MAX_INT:  # more than any inventory can hold (and than SQL integers take)
                return []
            q = q.where(providers.c.id.in_(providers_with_capacity(ids[rc_name], amount)))
    return [_row(r) for r in conn.execute(q.order_by(providers.c.id))]
