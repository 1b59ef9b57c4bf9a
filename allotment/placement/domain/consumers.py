"""Consumers (with their project, user and type) and the get-or-create of those records."""

from __future__ import annotations

from dataclasses import dataclass

import sqlalchemy as sa
from sqlalchemy.engine import Connection
from sqlalchemy.exc import IntegrityError

from allotment.placement.domain.common import inserted_id, now
from allotment.placement.store.tables import allocations, consumer_types, consumers, projects, users

__all__ = ["Consumer", "delete_if_empty", "ensure_id", "find_consumer", "lock_consumer"]


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


def lock_consumer(conn: Connection, uuid: str) -> Consumer | None:
    """The consumer, its row locked for the rest of the transaction (where the backend locks rows)."""
    locked = conn.execute(
        sa.select(consumers.c.id).where(consumers.c.uuid == uuid).with_for_update()
    ).first()
    return find_consumer(conn, uuid) if locked else None


def delete_if_empty(conn: Connection, uuids: list[str]) -> None:
    """Delete the consumers among ``uuids`` that hold no allocation any more."""
    if not uuids:
        return
    holding = set(
        conn.execute(sa.select(allocations.c.consumer_id).where(allocations.c.consumer_id.in_(uuids))).scalars()
    )
    empty = [u for u in uuids if u not in holding]
    if empty:
        conn.execute(consumers.delete().where(consumers.c.uuid.in_(empty)))


__all__ += ["ensure_project", "ensure_user", "ensure_consumer_type"]


def ensure_project(conn: Connection, external_id: str) -> int:
    return ensure_id(conn, projects, "external_id", external_id)


def ensure_user(conn: Connection, external_id: str) -> int:
    return ensure_id(conn, users, "external_id", external_id)


def ensure_consumer_type(conn: Connection, name: str) -> int:
    return ensure_id(conn, consumer_types, "name", name)
