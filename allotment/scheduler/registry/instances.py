"""Instances recorded on hosts: upsert (which also moves), remove, read."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from allotment.scheduler.errors import InvalidInput, NotFound
from allotment.scheduler.registry import changes, groups, topology
from allotment.scheduler.registry.common import check_name, check_uuid, now
from allotment.scheduler.registry.hosts import host_id
from allotment.scheduler.registry.models import INSTANCE_FIELDS, Instance
from allotment.scheduler.registry.tables import group_members, hosts, instances

__all__ = ["Recorded", "check_fields", "load", "record", "remove"]

_COUNTS = ("vcpus", "memory_mb", "root_gb")
# A new instance's values for the fields not given (the nullable ones are None).
_NEW = {"vcpus": 0, "memory_mb": 0, "root_gb": 0, **{k: None for k in INSTANCE_FIELDS if k not in _COUNTS}}


def check_fields(fields: Mapping[str, Any]) -> dict[str, Any]:
    unknown = sorted(set(fields) - set(INSTANCE_FIELDS))
    if unknown:
        raise InvalidInput(f"unknown instance field(s): {', '.join(unknown)}; known: {', '.join(INSTANCE_FIELDS)}")
    for key, value in fields.items():
        if key in _COUNTS:
            if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value < 2**31:
                raise InvalidInput(f"{key} must be a non-negative integer")
        elif value is not None:
            check_name(value, key)
    return dict(fields)


@dataclass(frozen=True)
class Recorded:
    """What ``record`` wrote: enough for the writer's own snapshot to apply it without reading it back."""

    uuid: str
    created: bool
    generation: int  # the generation the write committed as
    previous_host: int | None  # host id before (None: created)
    host: int  # host id now
    values: dict[str, Any]  # the instance fields written (all of them when created)


def record(conn: Connection, uuid: str, host: str | None, fields: Mapping[str, Any]) -> Recorded:
    """Create or update the instance (fields left out keep their value).

    A new host moves the instance, and its server group membership with it (policy checked).
    """
    uuid = check_uuid(uuid, "instance uuid")
    values = check_fields(fields)
    row = conn.execute(sa.select(instances.c.host_id).where(instances.c.uuid == uuid).with_for_update()).first()
    if row is None and host is None:
        raise InvalidInput(f"instance {uuid} is not recorded yet: its host is required")
    touched = set()
    new_host = host_id(conn, host) if host is not None else None
    stamp = now()
    if row is None:
        values = {**_NEW, **values}
        conn.execute(instances.insert().values(**values, uuid=uuid, host_id=new_host, created_at=stamp))
        touched.add(new_host)
    else:
        touched.add(row.host_id)
        moved = new_host is not None and new_host != row.host_id
        if values or moved:
            conn.execute(instances.update().where(instances.c.uuid == uuid).values(
                **values, **({"host_id": new_host} if moved else {}), updated_at=stamp))
        if moved:
            touched.add(new_host)
    if host is not None and (row is None or new_host != row.host_id):
        groups.follow_instance(conn, uuid, host)
    gen = changes.bump(conn, hosts=[h for h in touched if h is not None])
    previous = None if row is None else int(row.host_id)
    now_on = new_host if new_host is not None else previous
    assert now_on is not None  # a new instance has a host (checked above)
    return Recorded(uuid=uuid, created=row is None, generation=gen, previous_host=previous, host=now_on,
                    values=values)


def remove(conn: Connection, uuid: str) -> None:
    """Forget the instance, its server group membership and its topology claims."""
    hid = conn.execute(sa.select(instances.c.host_id).where(instances.c.uuid == uuid).with_for_update()).scalar()
    if hid is None:
        raise NotFound(f"instance {uuid} is not recorded", "scheduler.instance.not_found")
    conn.execute(group_members.delete().where(group_members.c.instance_uuid == uuid))
    topology.release(conn, uuid)  # its pinned CPUs, pages and devices
    conn.execute(instances.delete().where(instances.c.uuid == uuid))
    changes.bump(conn, hosts=[hid])


def load(conn: Connection, *, uuid: str | None = None, host: str | None = None) -> list[Instance]:
    q = sa.select(instances, hosts.c.name.label("host_name")).join(hosts, hosts.c.id == instances.c.host_id)
    if uuid is not None:
        q = q.where(instances.c.uuid == uuid)
    if host is not None:
        q = q.where(hosts.c.name == host)
    out = [
        Instance(uuid=r["uuid"], host=r["host_name"], **{k: r[k] for k in INSTANCE_FIELDS},
                 created_at=r["created_at"], updated_at=r["updated_at"])
        for r in conn.execute(q.order_by(instances.c.uuid)).mappings()
    ]
    if uuid is not None and not out:
        raise NotFound(f"instance {uuid} is not recorded", "scheduler.instance.not_found")
    return out
