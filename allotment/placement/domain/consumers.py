"""Consumers (with their project, user and type) and the get-or-create of those records."""

from __future__ import annotations

from dataclasses import dataclass

import sqlalchemy as sa
from sqlalchemy.engine import Connection
from sqlalchemy.exc import IntegrityError

from allotment.placement.domain.common import inserted_id, now
from allotment.placement.store.tables import allocations, consumer_types, consumers, projects, users

__all__ = ["Consumer", "LockedConsumer", "ensure_id", "find_consumer", "lock_consumer", "owner_ids"]


@dataclass
class Consumer:
    id: int
    uuid: str
    generation: int
    project_id: int
    user_id: int
    consumer_type_id: int | None
    project: str
    user: str
    consumer_type: str | None


def ensure_id(conn: Connection, table: sa.Table, column: str, value: str) -> int:
    """Id of the row of ``table`` whose ``column`` is ``value``, inserted if missing (race-safe)."""
    col = table.c[column]
    found = conn.execute(sa.select(table.c.id).where(col == value)).scalar()
    if found is not None:
        return int(found)
    try:
        with conn.begin_nested():
            return inserted_id(conn.execute(table.insert().values({column: value, "created_at": now()})))
    except IntegrityError:
        return int(conn.execute(sa.select(table.c.id).where(col == value)).scalar_one())


_SELECT = (
    sa.select(
        consumers.c.id,
        consumers.c.uuid,
        consumers.c.generation,
        consumers.c.project_id,
        consumers.c.user_id,
        consumers.c.consumer_type_id,
        projects.c.external_id,
        users.c.external_id,
        consumer_types.c.name,
    )
    .join(projects, projects.c.id == consumers.c.project_id)
    .join(users, users.c.id == consumers.c.user_id)
    .outerjoin(consumer_types, consumer_types.c.id == consumers.c.consumer_type_id)
)


def find_consumer(conn: Connection, uuid: str) -> Consumer | None:
    row = conn.execute(_SELECT.where(consumers.c.uuid == uuid)).first()
    return Consumer(*row) if row else None


@dataclass
class LockedConsumer:
    """A consumer row as a write sees it: ids only, no names (those cost joins)."""

    id: int
    generation: int
    project_id: int
    user_id: int
    consumer_type_id: int | None


_LOCK = (
    sa.select(consumers.c.id, consumers.c.generation, consumers.c.project_id, consumers.c.user_id,
              consumers.c.consumer_type_id)
    .where(consumers.c.uuid == sa.bindparam("uuid"))
    .with_for_update()
)


def lock_consumer(conn: Connection, uuid: str) -> LockedConsumer | None:
    """The consumer's row, locked for the rest of the transaction (where the backend locks rows)."""
    row = conn.execute(_LOCK, {"uuid": uuid}).first()
    return LockedConsumer(*row) if row else None


_OWNERS = sa.select(
    sa.select(projects.c.id).where(projects.c.external_id == sa.bindparam("project")).scalar_subquery(),
    sa.select(users.c.id).where(users.c.external_id == sa.bindparam("user")).scalar_subquery(),
)
_OWNERS_TYPED = sa.select(
    *_OWNERS.selected_columns,
    sa.select(consumer_types.c.id).where(consumer_types.c.name == sa.bindparam("type")).scalar_subquery(),
)


def owner_ids(conn: Connection, project: str, user: str, consumer_type: str | None) -> tuple[int, int, int | None]:
    """Ids of the project, user and (if given) consumer type, each inserted if missing.

    One statement when they all exist (the usual case: a project claims many times).
    """
    if consumer_type is None:
        found = list(conn.execute(_OWNERS, {"project": project, "user": user}).one())
    else:
        found = list(conn.execute(_OWNERS_TYPED, {"project": project, "user": user, "type": consumer_type}).one())
    project_id = int(found[0]) if found[0] is not None else ensure_project(conn, project)
    user_id = int(found[1]) if found[1] is not None else ensure_user(conn, user)
    type_id: int | None = None
    if consumer_type is not None:
        type_id = int(found[2]) if found[2] is not None else ensure_consumer_type(conn, consumer_type)
    return project_id, user_id, type_id


__all__ += ["ensure_project", "ensure_user", "ensure_consumer_type"]


def ensure_project(conn: Connection, external_id: str) -> int:
    return ensure_id(conn, projects, "external_id", external_id)


def ensure_user(conn: Connection, external_id: str) -> int:
    return ensure_id(conn, users, "external_id", external_id)


def ensure_consumer_type(conn: Connection, name: str) -> int:
    return ensure_id(conn, consumer_types, "name", name)
