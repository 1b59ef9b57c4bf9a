"""Resource classes and traits: the standard names (from os-resource-classes and
os-traits) and the operator's CUSTOM_* ones."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable
from dataclasses import dataclass

import os_resource_classes
import os_traits
import sqlalchemy as sa
from sqlalchemy.engine import Connection

from allotment.placement.domain import changes
from allotment.placement.domain.common import inserted_id, now
from allotment.placement.domain.exceptions import BadRequest, Conflict, NotFound
from allotment.placement.store.tables import allocations, inventories, provider_traits, providers
from allotment.placement.store.tables import resource_classes as rc_t
from allotment.placement.store.tables import traits as trait_t

__all__ = [
    "CUSTOM_CLASS_MIN_ID",
    "NamedRow",
    "class_id",
    "class_ids",
    "create_class",
    "create_trait",
    "delete_class",
    "delete_trait",
    "get_class",
    "get_trait",
    "list_classes",
    "list_traits",
    "sync_standard_names",
    "trait_ids",
    "update_class",
]

# Standard classes keep the ids of their position in os-resource-classes (from 1); custom ones start here.
CUSTOM_CLASS_MIN_ID = 10000


@dataclass(frozen=True)
class NamedRow:
    id: int
    name: str
    created_at: dt.datetime
    updated_at: dt.datetime | None


def _standard_classes() -> list[str]:
    return list(os_resource_classes.STANDARDS)


def _standard_traits() -> set[str]:
    return set(os_traits.get_traits())


def sync_standard_names(conn: Connection) -> None:
    """Insert the standard resource classes and traits the database lacks."""
    stamp = now()
    have = {r.name: r.id for r in conn.execute(sa.select(rc_t.c.name, rc_t.c.id))}
    rows = [
        # Ids start at 1: MySQL treats an explicit 0 in an auto-increment column as "pick one".
        {"id": i + 1, "name": name, "created_at": stamp}
        for i, name in enumerate(_standard_classes())
        if name not in have
    ]
    if rows:
        conn.execute(rc_t.insert(), rows)
    have_traits = set(conn.execute(sa.select(trait_t.c.name)).scalars())
    missing = sorted(_standard_traits() - have_traits)
    if missing:
        conn.execute(trait_t.insert(), [{"name": n, "created_at": stamp} for n in missing])


# ---- resource classes -------------------------------------------------------------


def _class_row(conn: Connection, name: str) -> NamedRow | None:
    row = conn.execute(
        sa.select(rc_t.c.id, rc_t.c.name, rc_t.c.created_at, rc_t.c.updated_at).where(rc_t.c.name == name)
    ).first()
    return NamedRow(*row) if row else None


def get_class(conn: Connection, name: str) -> NamedRow:
    row = _class_row(conn, name)
    if row is None:
        raise NotFound(f"No such resource class {name}.")
    return row


def class_id(conn: Connection, name: str) -> int | None:
    return conn.execute(sa.select(rc_t.c.id).where(rc_t.c.name == name)).scalar()


# Built once: every claim asks this (building a statement costs more than running this one).
_CLASS_IDS = sa.select(rc_t.c.name, rc_t.c.id).where(rc_t.c.name.in_(sa.bindparam("names", expanding=True)))


def class_ids(conn: Connection, names: Iterable[str]) -> dict[str, int]:
    """Ids of the named classes that exist."""
    names = sorted(set(names))
    if not names:
        return {}
    return {name: rc_id for name, rc_id in conn.execute(_CLASS_IDS, {"names": names})}


def list_classes(conn: Connection) -> list[NamedRow]:
    rows = conn.execute(
        sa.select(rc_t.c.id, rc_t.c.name, rc_t.c.created_at, rc_t.c.updated_at).order_by(rc_t.c.id)
    )
    return [NamedRow(*r) for r in rows]


def create_class(conn: Connection, name: str) -> NamedRow:
    if _class_row(conn, name) is not None:
        raise Conflict(f"Conflicting resource class already exists: {name}")
    next_id = conn.execute(sa.select(sa.func.max(rc_t.c.id))).scalar() or 0
    new_id = max(next_id + 1, CUSTOM_CLASS_MIN_ID)
    stamp = now()
    conn.execute(rc_t.insert().values(id=new_id, name=name, created_at=stamp))
    return NamedRow(new_id, name, stamp, None)


def update_class(conn: Connection, name: str, new_name: str) -> NamedRow:
    row = get_class(conn, name)
    if row.id < CUSTOM_CLASS_MIN_ID:
        raise BadRequest(f"Cannot update standard resource class {name}")
    if new_name != name and _class_row(conn, new_name) is not None:
        raise Conflict(f"Resource class already exists: {new_name}")
    stamp = now()
    conn.execute(rc_t.update().where(rc_t.c.id == row.id).values(name=new_name, updated_at=stamp))
    changes.touch_all(conn)
    return NamedRow(row.id, new_name, row.created_at, stamp)


def delete_class(conn: Connection, name: str) -> None:
    row = get_class(conn, name)
    if row.id < CUSTOM_CLASS_MIN_ID:
        raise BadRequest(f"Error in delete resource class: Cannot delete standard resource class {name}.")
    in_use = conn.execute(
        sa.select(sa.literal(1)).where(inventories.c.resource_class_id == row.id).limit(1)
    ).first() or conn.execute(
        sa.select(sa.literal(1)).where(allocations.c.resource_class_id == row.id).limit(1)
    ).first()
    if in_use:
        raise Conflict(
            f"Error in delete resource class: Cannot delete resource class {name}. "
            "Class is in use in inventory."
        )
    conn.execute(rc_t.delete().where(rc_t.c.id == row.id))


# ---- traits -----------------------------------------------------------------------


def get_trait(conn: Connection, name: str) -> NamedRow:
    row = conn.execute(
        sa.select(trait_t.c.id, trait_t.c.name, trait_t.c.created_at, trait_t.c.updated_at).where(
            trait_t.c.name == name
        )
    ).first()
    if row is None:
        raise NotFound(f"No such trait(s): {name}.")
    return NamedRow(*row)


def trait_ids(conn: Connection, names: Iterable[str]) -> dict[str, int]:
    """Ids of the named traits that exist."""
    names = list(set(names))
    if not names:
        return {}
    return {
        r.name: r.id for r in conn.execute(sa.select(trait_t.c.name, trait_t.c.id).where(trait_t.c.name.in_(names)))
    }


def list_traits(
    conn: Connection,
    *,
    name_in: list[str] | None = None,
    prefix: str | None = None,
    associated: bool | None = None,
) -> list[NamedRow]:
    q = sa.select(trait_t.c.id, trait_t.c.name, trait_t.c.created_at, trait_t.c.updated_at)
    if name_in is not None:
        q = q.where(trait_t.c.name.in_(name_in))
    if prefix is not None:
        q = q.where(trait_t.c.name.startswith(prefix, autoescape=True))
    if associated is not None:
        used = sa.select(provider_traits.c.trait_id)
        q = q.where(trait_t.c.id.in_(used) if associated else trait_t.c.id.not_in(used))
    return [NamedRow(*r) for r in conn.execute(q.order_by(trait_t.c.name))]


def create_trait(conn: Connection, name: str) -> tuple[NamedRow, bool]:
    """The trait called ``name``, created if missing; True when it was created."""
    try:
        return get_trait(conn, name), False
    except NotFound:
        pass
    stamp = now()
    new_id = inserted_id(conn.execute(trait_t.insert().values(name=name, created_at=stamp)))
    return NamedRow(new_id, name, stamp, None), True



def delete_trait(conn: Connection, name: str) -> None:
    row = get_trait(conn, name)
    if not name.startswith("CUSTOM_"):
        raise BadRequest(f"Cannot delete standard trait {name}.")
    used = conn.execute(
        sa.select(sa.literal(1))
        .select_from(provider_traits.join(providers, providers.c.id == provider_traits.c.resource_provider_id))
        .where(provider_traits.c.trait_id == row.id)
        .limit(1)
    ).first()
    if used:
        raise Conflict(f"The trait {name} is in use by a resource provider.")
    conn.execute(trait_t.delete().where(trait_t.c.id == row.id))
