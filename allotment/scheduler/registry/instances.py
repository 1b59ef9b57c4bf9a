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


# Built once: record() runs for every instance the scheduler places and every task state change.
_LOCK_ROW = sa.select(instances.c.host_id).where(instances.c.uuid == sa.bindparam("uuid")).with_for_update()
# The host's id and the instance's server group in one round trip (both were read without locks before too).
_HOST_AND_GROUP = sa.select(
    sa.select(hosts.c.id).where(hosts.c.name == sa.bindparam("host")).scalar_subquery().label("host_id"),
    sa.select(group_members.c.group_id).where(group_members.c.instance_uuid == sa.bindparam("uuid"))
    .scalar_subquery().label("group_id"),
)
_INSERT = instances.insert()
# The SET columns come from the parameters; the key is not named "uuid", which is a column.
_UPDATE = instances.update().where(instances.c.uuid == sa.bindparam("b_uuid"))
_UPDATE_RETURNING = _UPDATE.returning(instances.c.host_id)


def record(conn: Connection, uuid: str, host: str | None, fields: Mapping[str, Any]) -> Recorded:
    """Create or update the instance (fields left out keep their value).

    A new host moves the instance, and its server group membership with it (policy checked).
    """
    uuid = check_uuid(uuid, "instance uuid")
    values = check_fields(fields)
    stamp = now()
    if host is None and values and conn.dialect.update_returning:
        return _update_fields(conn, uuid, values, stamp)
    row = conn.execute(_LOCK_ROW, {"uuid": uuid}).first()
    if row is None and host is None:
        raise InvalidInput(f"instance {uuid} is not recorded yet: its host is required")
    touched = set()
    new_host, group = _host_and_group(conn, uuid, host) if host is not None else (None, None)
    if row is None:
        values = {**_NEW, **values}
        conn.execute(_INSERT, {**values, "uuid": uuid, "host_id": new_host, "created_at": stamp})
        touched.add(new_host)
    else:
        touched.add(row.host_id)
        moved = new_host is not None and new_host != row.host_id
        if values or moved:
            conn.execute(_UPDATE, {**values, **({"host_id": new_host} if moved else {}), "updated_at": stamp,
                                   "b_uuid": uuid})
        if moved:
            touched.add(new_host)
    if host is not None and group is not None and (row is None or new_host != row.host_id):
        groups.follow_instance(conn, uuid, host)
    gen = changes.bump(conn, hosts=[h for h in touched if h is not None])
    previous = None if row is None else int(row.host_id)
    now_on = new_host if new_host is not None else previous
    assert now_on is not None  # a new instance has a host (checked above)
    return Recorded(uuid=uuid, created=row is None, generation=gen, previous_host=previous, host=now_on,
                    values=values)


def _host_and_group(conn: Connection, uuid: str, host: str) -> tuple[int, int | None]:
    """The id of ``host`` (NotFound if it is not registered) and the instance's server group id, if any."""
    found = conn.execute(_HOST_AND_GROUP, {"host": host, "uuid": uuid}).one()
    if found.host_id is None:
        raise NotFound(f"host {host!r} is not registered", "scheduler.host.not_found")
    return int(found.host_id), found.group_id


def _update_fields(conn: Connection, uuid: str, values: dict[str, Any], stamp: Any) -> Recorded:
    """Fields only, no host (a task state change): the UPDATE locks the row and says where it is, in one statement."""
    hid = conn.execute(_UPDATE_RETURNING, {**values, "updated_at": stamp, "b_uuid": uuid}).scalar()
    if hid is None:
        raise InvalidInput(f"instance {uuid} is not recorded yet: its host is required")
    gen = changes.bump(conn, hosts=[hid])
    return Recorded(uuid=uuid, created=False, generation=gen, previous_host=int(hid), host=int(hid), values=values)


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
