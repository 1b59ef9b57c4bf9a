"""Host operations on a connection: register or update, heartbeat, status, delete, read."""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from allotment.scheduler.errors import Conflict, InvalidInput, NotFound
from allotment.scheduler.registry import changes
from allotment.scheduler.registry.common import UNSET, check_name, check_uuid, new_id, now
from allotment.scheduler.registry.models import HOST_FACTS, Host
from allotment.scheduler.registry.tables import (
    aggregate_hosts,
    aggregates,
    claimed_devices,
    host_topologies,
    hosts,
    instances,
    pinned_cpus,
    topology_claims,
)

__all__ = ["check_facts", "delete", "heartbeat", "host_id", "load", "register", "service_up", "set_status"]

_STRING_FACTS = {"cell": 255, "hypervisor_type": 255, "hypervisor_hostname": 255, "host_ip": 64}
_DEFAULTS: dict[str, Any] = {"cpu_info": {}, "supported_instances": [], "stats": {}, "failed_builds": 0}


def service_up(forced_down: bool, last_heartbeat: dt.datetime | None, at: dt.datetime, down_time: float) -> bool:
    if forced_down or last_heartbeat is None:
        return False
    return (at - last_heartbeat).total_seconds() <= down_time


def _is_int(v: object) -> bool:
    return isinstance(v, int) and not isinstance(v, bool)


def check_facts(facts: Mapping[str, Any]) -> dict[str, Any]:
    """The facts, normalised; InvalidInput naming the first bad one."""
    unknown = sorted(set(facts) - set(HOST_FACTS))
    if unknown:
        raise InvalidInput(f"unknown host fact(s): {', '.join(unknown)}; known: {', '.join(HOST_FACTS)}")
    out: dict[str, Any] = {}
    for key, value in facts.items():
        if key in _STRING_FACTS:
            if value is not None:
                check_name(value, key, _STRING_FACTS[key])
        elif key == "hypervisor_version":
            if value is not None and not (_is_int(value) and 0 <= value < 2**63):
                raise InvalidInput("hypervisor_version must be a non-negative integer or null")
        elif key == "failed_builds":
            if not (_is_int(value) and 0 <= value < 2**31):
                raise InvalidInput("failed_builds must be a non-negative integer")
        elif key in ("cpu_info", "stats"):
            if not isinstance(value, Mapping):
                raise InvalidInput(f"{key} must be an object")
            if key == "stats" and not all(isinstance(k, str) and isinstance(v, str) for k, v in value.items()):
                raise InvalidInput("stats must map strings to strings")
            value = dict(value)
        elif key == "supported_instances":
            if not isinstance(value, list | tuple) or not all(
                isinstance(t, list | tuple) and len(t) == 3 and all(isinstance(s, str) for s in t) for t in value
            ):
                raise InvalidInput("supported_instances must be a list of [architecture, hypervisor type, vm mode]")
            value = [list(t) for t in value]
        out[key] = value
    return out


def host_id(conn: Connection, name: str, *, lock: bool = False) -> int:
    q = sa.select(hosts.c.id).where(hosts.c.name == name)
    if lock:
        q = q.with_for_update()
    hid = conn.execute(q).scalar()
    if hid is None:
        raise NotFound(f"host {name!r} is not registered", "scheduler.host.not_found")
    return int(hid)


def register(conn: Connection, name: str, provider_uuid: str, facts: Mapping[str, Any]) -> bool:
    """Create the host or update its facts (those left out keep their value); True when created."""
    check_name(name, "host name")
    provider_uuid = check_uuid(provider_uuid, "provider uuid")
    values = check_facts(facts)
    other = conn.execute(
        sa.select(hosts.c.name).where(hosts.c.provider_uuid == provider_uuid, hosts.c.name != name)
    ).scalar()
    if other is not None:
        raise Conflict(f"provider {provider_uuid} is already the root provider of host {other!r}",
                       "scheduler.host.provider_in_use")
    stamp = now()
    existing = conn.execute(sa.select(hosts.c.id).where(hosts.c.name == name).with_for_update()).scalar()
    if existing is None:
        row = {**_DEFAULTS, **values, "name": name, "provider_uuid": provider_uuid, "disabled": False,
               "forced_down": False, "last_heartbeat": stamp, "created_at": stamp}
        hid = new_id(conn.execute(hosts.insert().values(**row)))
    else:
        hid = existing
        conn.execute(hosts.update().where(hosts.c.id == hid).values(
            **values, provider_uuid=provider_uuid, last_heartbeat=stamp, updated_at=stamp))
    changes.bump(conn, hosts=[hid])
    return existing is None


def heartbeat(conn: Connection, name: str) -> dt.datetime:
    """Record that the host is alive. Not logged as a change: snapshots re-read heartbeats on a timer."""
    stamp = now()
    if conn.execute(hosts.update().where(hosts.c.name == name).values(last_heartbeat=stamp)).rowcount == 0:
        raise NotFound(f"host {name!r} is not registered", "scheduler.host.not_found")
    return stamp


def set_status(conn: Connection, name: str, *, disabled: bool | None = None, disabled_reason: Any = UNSET,
               forced_down: bool | None = None) -> None:
    """Enable/disable (enabling clears the reason) and force down or up."""
    values: dict[str, Any] = {}
    if disabled is not None:
        values["disabled"] = bool(disabled)
        if not disabled:
            values["disabled_reason"] = None
    if disabled_reason is not UNSET:
        if disabled_reason is not None:
            check_name(disabled_reason, "disabled reason")
        if disabled is False and disabled_reason is not None:
            raise InvalidInput("a disabled reason cannot be given when enabling a host")
        values["disabled_reason"] = disabled_reason
    if forced_down is not None:
        values["forced_down"] = bool(forced_down)
    if not values:
        raise InvalidInput("nothing to change: give disabled, disabled_reason or forced_down")
    hid = host_id(conn, name, lock=True)
    conn.execute(hosts.update().where(hosts.c.id == hid).values(**values, updated_at=now()))
    changes.bump(conn, hosts=[hid])


def delete(conn: Connection, name: str) -> None:
    """Remove the host and its aggregate memberships; refused while instances are recorded on it."""
    hid = host_id(conn, name, lock=True)
    count = conn.execute(sa.select(sa.func.count()).select_from(instances).where(instances.c.host_id == hid)).scalar()
    if count:
        raise Conflict(f"host {name!r} still has {count} instance(s) recorded; remove or move them first",
                       "scheduler.host.in_use")
    aggs = list(conn.execute(sa.select(aggregate_hosts.c.aggregate_id).where(aggregate_hosts.c.host_id == hid))
                .scalars())
    conn.execute(aggregate_hosts.delete().where(aggregate_hosts.c.host_id == hid))
    for table in (pinned_cpus, claimed_devices, topology_claims, host_topologies):
        conn.execute(table.delete().where(table.c.host_id == hid))
    conn.execute(hosts.delete().where(hosts.c.id == hid))
    changes.bump(conn, hosts=[hid], aggregates=aggs)


def load(conn: Connection, *, name: str | None = None, cell: str | None = None, at: dt.datetime,
         down_time: float) -> list[Host]:
    """Host records (one by name, or all, optionally of one cell), sorted by name."""
    q = sa.select(hosts)
    if name is not None:
        q = q.where(hosts.c.name == name)
    if cell is not None:
        q = q.where(hosts.c.cell == cell)
    rows = conn.execute(q.order_by(hosts.c.name)).mappings().all()
    if not rows:
        return []
    m = sa.select(aggregate_hosts.c.host_id, aggregates.c.uuid).join(
        aggregates, aggregates.c.id == aggregate_hosts.c.aggregate_id).order_by(aggregates.c.uuid)
    if name is not None:
        m = m.where(aggregate_hosts.c.host_id == rows[0]["id"])
    member_of: dict[int, list[str]] = {}
    for hid, agg in conn.execute(m):
        member_of.setdefault(hid, []).append(agg)
    return [_host(r, member_of.get(r["id"], []), at, down_time) for r in rows]


def _host(r: Any, aggs: list[str], at: dt.datetime, down_time: float) -> Host:
    return Host(
        name=r["name"], provider_uuid=r["provider_uuid"], cell=r["cell"], hypervisor_type=r["hypervisor_type"],
        hypervisor_version=r["hypervisor_version"], hypervisor_hostname=r["hypervisor_hostname"],
        host_ip=r["host_ip"], cpu_info=dict(r["cpu_info"] or {}),
        supported_instances=[tuple(t) for t in r["supported_instances"] or []],
        stats=dict(r["stats"] or {}), failed_builds=r["failed_builds"], disabled=bool(r["disabled"]),
        disabled_reason=r["disabled_reason"], forced_down=bool(r["forced_down"]), last_heartbeat=r["last_heartbeat"],
        up=service_up(bool(r["forced_down"]), r["last_heartbeat"], at, down_time), aggregates=aggs,
        created_at=r["created_at"], updated_at=r["updated_at"],
    )
