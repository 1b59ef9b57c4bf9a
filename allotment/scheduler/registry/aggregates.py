"""Host aggregates: create, rename, metadata, hosts, delete, read.

Aggregate writes lock the registry's state row first, so the availability-zone check
(a host may not sit in two aggregates naming different zones) sees every concurrent
aggregate change in order.
"""

from __future__ import annotations

import uuid as uuidlib
from collections.abc import Iterable, Mapping
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from allotment.scheduler.errors import Conflict, InvalidInput, NotFound
from allotment.scheduler.registry import changes
from allotment.scheduler.registry.common import check_name, check_uuid, new_id, now
from allotment.scheduler.registry.hosts import host_id
from allotment.scheduler.registry.models import Aggregate
from allotment.scheduler.registry.tables import aggregate_hosts, aggregate_metadata, aggregates, hosts, state

__all__ = ["AZ_KEY", "add_host", "create", "delete", "load", "remove_host", "rename", "set_metadata"]

AZ_KEY = "availability_zone"


def _lock(conn: Connection) -> None:
    conn.execute(sa.select(state.c.id).where(state.c.id == 1).with_for_update())


def _check_metadata(updates: Mapping[str, Any]) -> dict[str, str | None]:
    if not isinstance(updates, Mapping):
        raise InvalidInput("metadata must be an object")
    for key, value in updates.items():
        check_name(key, "metadata key")
        if value is not None and (not isinstance(value, str) or len(value) > 255
                                  or any(ord(c) < 32 or c == "\x7f" for c in value)):
            raise InvalidInput(f"metadata value of {key!r} must be a string of at most 255 printable characters "
                               "(or null to remove the key)")
    return dict(updates)


def _row(conn: Connection, uuid: str) -> Any:
    row = conn.execute(sa.select(aggregates).where(aggregates.c.uuid == uuid)).mappings().first()
    if row is None:
        raise NotFound(f"aggregate {uuid} not found", "scheduler.aggregate.not_found")
    return row


def _check_name_free(conn: Connection, name: str, except_id: int | None = None) -> None:
    q = sa.select(aggregates.c.uuid).where(aggregates.c.name == name)
    if except_id is not None:
        q = q.where(aggregates.c.id != except_id)
    other = conn.execute(q).scalar()
    if other is not None:
        raise Conflict(f"an aggregate named {name!r} already exists ({other})", "scheduler.aggregate.duplicate_name")


def _check_zone(conn: Connection, agg_id: int, zone: str, host_ids: Iterable[int]) -> None:
    """Refuse when one of ``host_ids`` is in another aggregate naming a different zone."""
    ids = list(host_ids)
    if not ids:
        return
    q = (
        sa.select(hosts.c.name, aggregates.c.name, aggregate_metadata.c.value)
        .select_from(aggregate_hosts.join(hosts, hosts.c.id == aggregate_hosts.c.host_id)
                     .join(aggregates, aggregates.c.id == aggregate_hosts.c.aggregate_id)
                     .join(aggregate_metadata, aggregate_metadata.c.aggregate_id == aggregates.c.id))
        .where(aggregate_hosts.c.host_id.in_(ids), aggregate_hosts.c.aggregate_id != agg_id,
               aggregate_metadata.c.key == AZ_KEY, aggregate_metadata.c.value != zone)
        .order_by(hosts.c.name)
    )
    clash = conn.execute(q).first()
    if clash is not None:
        raise Conflict(f"host {clash[0]!r} is in aggregate {clash[1]!r} of availability zone {clash[2]!r}; "
                       f"it cannot also be in availability zone {zone!r}", "scheduler.aggregate.zone_conflict")


def _members(conn: Connection, agg_id: int) -> list[int]:
    return list(conn.execute(sa.select(aggregate_hosts.c.host_id).where(aggregate_hosts.c.aggregate_id == agg_id))
                .scalars())


def _zone(conn: Connection, agg_id: int) -> str | None:
    return conn.execute(sa.select(aggregate_metadata.c.value).where(
        aggregate_metadata.c.aggregate_id == agg_id, aggregate_metadata.c.key == AZ_KEY)).scalar()


def create(conn: Connection, name: str, *, uuid: str | None = None,
           metadata: Mapping[str, str] | None = None) -> str:
    check_name(name, "aggregate name")
    agg_uuid = check_uuid(uuid, "aggregate uuid") if uuid is not None else str(uuidlib.uuid4())
    md = {k: v for k, v in _check_metadata(metadata or {}).items() if v is not None}
    _lock(conn)
    _check_name_free(conn, name)
    if conn.execute(sa.select(aggregates.c.id).where(aggregates.c.uuid == agg_uuid)).first():
        raise Conflict(f"aggregate {agg_uuid} already exists", "scheduler.aggregate.duplicate_uuid")
    agg_id = new_id(conn.execute(aggregates.insert().values(uuid=agg_uuid, name=name, created_at=now())))
    if md:
        conn.execute(aggregate_metadata.insert(),
                     [{"aggregate_id": agg_id, "key": k, "value": v} for k, v in md.items()])
    changes.bump(conn, aggregates=[agg_id])
    return agg_uuid


def rename(conn: Connection, uuid: str, name: str) -> None:
    check_name(name, "aggregate name")
    _lock(conn)
    row = _row(conn, uuid)
    _check_name_free(conn, name, except_id=row["id"])
    conn.execute(aggregates.update().where(aggregates.c.id == row["id"]).values(name=name, updated_at=now()))
    changes.bump(conn, aggregates=[row["id"]])


def set_metadata(conn: Connection, uuid: str, updates: Mapping[str, str | None]) -> None:
    """Set the given keys; a None value removes its key. Other keys are kept."""
    checked = _check_metadata(updates)
    _lock(conn)
    row = _row(conn, uuid)
    agg_id = row["id"]
    zone = checked.get(AZ_KEY)
    if zone is not None:
        _check_zone(conn, agg_id, zone, _members(conn, agg_id))
    for key, value in checked.items():
        conn.execute(aggregate_metadata.delete().where(
            aggregate_metadata.c.aggregate_id == agg_id, aggregate_metadata.c.key == key))
        if value is not None:
            conn.execute(aggregate_metadata.insert().values(aggregate_id=agg_id, key=key, value=value))
    conn.execute(aggregates.update().where(aggregates.c.id == agg_id).values(updated_at=now()))
    changes.bump(conn, aggregates=[agg_id])


def add_host(conn: Connection, uuid: str, host: str) -> None:
    _lock(conn)
    row = _row(conn, uuid)
    hid = host_id(conn, host)
    if conn.execute(sa.select(aggregate_hosts.c.host_id).where(
            aggregate_hosts.c.aggregate_id == row["id"], aggregate_hosts.c.host_id == hid)).first():
        raise Conflict(f"host {host!r} is already in aggregate {row['name']!r}", "scheduler.aggregate.host_exists")
    zone = _zone(conn, row["id"])
    if zone is not None:
        _check_zone(conn, row["id"], zone, [hid])
    conn.execute(aggregate_hosts.insert().values(aggregate_id=row["id"], host_id=hid))
    changes.bump(conn, aggregates=[row["id"]])


def remove_host(conn: Connection, uuid: str, host: str) -> None:
    _lock(conn)
    row = _row(conn, uuid)
    hid = host_id(conn, host)
    if not conn.execute(aggregate_hosts.delete().where(
            aggregate_hosts.c.aggregate_id == row["id"], aggregate_hosts.c.host_id == hid)).rowcount:
        raise NotFound(f"host {host!r} is not in aggregate {row['name']!r}", "scheduler.aggregate.host_not_member")
    changes.bump(conn, aggregates=[row["id"]])


def delete(conn: Connection, uuid: str) -> None:
    """Delete an empty aggregate (hosts must be removed first, as in Nova)."""
    _lock(conn)
    row = _row(conn, uuid)
    count = len(_members(conn, row["id"]))
    if count:
        raise Conflict(f"aggregate {row['name']!r} still has {count} host(s); remove them first",
                       "scheduler.aggregate.not_empty")
    conn.execute(aggregate_metadata.delete().where(aggregate_metadata.c.aggregate_id == row["id"]))
    conn.execute(aggregates.delete().where(aggregates.c.id == row["id"]))
    changes.bump(conn, aggregates=[row["id"]])


def load(conn: Connection, uuid: str | None = None) -> list[Aggregate]:
    """One aggregate (NotFound when missing) or all, sorted by name, with metadata and host names."""
    q = sa.select(aggregates)
    if uuid is not None:
        q = q.where(aggregates.c.uuid == uuid)
    rows = conn.execute(q.order_by(aggregates.c.name)).mappings().all()
    if uuid is not None and not rows:
        raise NotFound(f"aggregate {uuid} not found", "scheduler.aggregate.not_found")
    ids = [r["id"] for r in rows]
    md: dict[int, dict[str, str]] = {}
    members: dict[int, list[str]] = {}
    if ids:
        mq = sa.select(aggregate_metadata).order_by(aggregate_metadata.c.key)
        hq = (sa.select(aggregate_hosts.c.aggregate_id, hosts.c.name)
              .join(hosts, hosts.c.id == aggregate_hosts.c.host_id).order_by(hosts.c.name))
        if uuid is not None:
            mq = mq.where(aggregate_metadata.c.aggregate_id == ids[0])
            hq = hq.where(aggregate_hosts.c.aggregate_id == ids[0])
        for r in conn.execute(mq).mappings():
            md.setdefault(r["aggregate_id"], {})[r["key"]] = r["value"]
        for agg_id, name in conn.execute(hq):
            members.setdefault(agg_id, []).append(name)
    return [Aggregate(uuid=r["uuid"], name=r["name"], metadata=md.get(r["id"], {}), hosts=members.get(r["id"], []),
                      created_at=r["created_at"], updated_at=r["updated_at"]) for r in rows]
