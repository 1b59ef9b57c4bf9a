"""Server groups and their members, with the policy checked atomically on every placement.

``place_member`` locks the group's row (``SELECT ... FOR UPDATE`` on PostgreSQL and
MySQL; on SQLite the write transaction's ``BEGIN IMMEDIATE`` already serialises
writers) before it reads the members, so two schedulers placing members of one group
at the same moment are checked one after the other and can never both pass.
"""

from __future__ import annotations

import uuid as uuidlib
from collections.abc import Mapping
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from allotment.scheduler.errors import Conflict, GroupPolicyViolation, InvalidInput, NotFound
from allotment.scheduler.registry.common import check_name, check_uuid, now
from allotment.scheduler.registry.hosts import host_id
from allotment.scheduler.registry.models import GROUP_POLICIES, Group
from allotment.scheduler.registry.tables import group_members, server_groups

__all__ = ["check_policy", "create", "delete", "follow_instance", "load", "place_member", "remove_member"]

DEFAULT_MAX_SERVER_PER_HOST = 1


def _check_rules(policy: str, rules: Mapping[str, Any] | None) -> dict[str, int]:
    if not rules:
        return {}
    if not isinstance(rules, Mapping):
        raise InvalidInput("rules must be an object")
    if policy != "anti-affinity":
        raise InvalidInput(f"rules are only allowed with the anti-affinity policy, not {policy!r}")
    unknown = sorted(set(rules) - {"max_server_per_host"})
    if unknown:
        raise InvalidInput(f"unknown server group rule(s): {', '.join(map(str, unknown))}")
    value = rules["max_server_per_host"]
    if isinstance(value, bool) or not isinstance(value, int) or not 1 <= value < 2**31:
        raise InvalidInput("max_server_per_host must be a positive integer")
    return {"max_server_per_host": value}


def create(conn: Connection, name: str, policy: str, *, rules: Mapping[str, Any] | None = None,
           project_id: str | None = None, user_id: str | None = None, uuid: str | None = None) -> str:
    check_name(name, "server group name")
    if policy not in GROUP_POLICIES:
        raise InvalidInput(f"unknown server group policy {policy!r}; known: {', '.join(GROUP_POLICIES)}")
    checked = _check_rules(policy, rules)
    for what, value in (("project_id", project_id), ("user_id", user_id)):
        if value is not None:
            check_name(value, what)
    group_uuid = check_uuid(uuid, "server group uuid") if uuid is not None else str(uuidlib.uuid4())
    if conn.execute(sa.select(server_groups.c.id).where(server_groups.c.uuid == group_uuid)).first():
        raise Conflict(f"server group {group_uuid} already exists", "scheduler.server_group.duplicate")
    conn.execute(server_groups.insert().values(
        uuid=group_uuid, name=name, policy=policy, rules=checked, project_id=project_id, user_id=user_id,
        created_at=now()))
    return group_uuid


def _group_row(conn: Connection, uuid: str, *, lock: bool = False) -> Any:
    q = sa.select(server_groups).where(server_groups.c.uuid == uuid)
    if lock:
        q = q.with_for_update()
    row = conn.execute(q).mappings().first()
    if row is None:
        raise NotFound(f"server group {uuid} not found", "scheduler.server_group.not_found")
    return row


def _members(conn: Connection, group_id: int) -> dict[str, str]:
    q = sa.select(group_members.c.instance_uuid, group_members.c.host).where(group_members.c.group_id == group_id)
    return {i: h for i, h in conn.execute(q.order_by(group_members.c.instance_uuid))}


def _group(row: Any, members: dict[str, str]) -> Group:
    return Group(uuid=row["uuid"], name=row["name"], policy=row["policy"], rules=dict(row["rules"] or {}),
                 project_id=row["project_id"], user_id=row["user_id"], members=members,
                 created_at=row["created_at"], updated_at=row["updated_at"])


def load(conn: Connection, uuid: str | None = None, *, project_id: str | None = None) -> list[Group]:
    """One group by uuid (NotFound when missing), or all groups (of a project), with their members."""
    if uuid is not None:
        row = _group_row(conn, uuid)
        return [_group(row, _members(conn, row["id"]))]
    q = sa.select(server_groups)
    if project_id is not None:
        q = q.where(server_groups.c.project_id == project_id)
    rows = conn.execute(q.order_by(server_groups.c.name, server_groups.c.uuid)).mappings().all()
    members: dict[int, dict[str, str]] = {}
    if rows:
        m = sa.select(group_members.c.group_id, group_members.c.instance_uuid, group_members.c.host)
        if project_id is not None:
            m = m.where(group_members.c.group_id.in_([r["id"] for r in rows]))
        for gid, inst, host in conn.execute(m.order_by(group_members.c.instance_uuid)):
            members.setdefault(gid, {})[inst] = host
    return [_group(r, members.get(r["id"], {})) for r in rows]


def delete(conn: Connection, uuid: str) -> None:
    row = _group_row(conn, uuid, lock=True)
    conn.execute(group_members.delete().where(group_members.c.group_id == row["id"]))
    conn.execute(server_groups.delete().where(server_groups.c.id == row["id"]))


def check_policy(group: Mapping[str, Any], others: Mapping[str, str], instance_uuid: str, host: str) -> None:
    """Raise GroupPolicyViolation if ``instance_uuid`` may not join ``others`` (instance -> host) on ``host``."""
    policy = group["policy"]
    if policy == "anti-affinity":
        limit = int((group["rules"] or {}).get("max_server_per_host", DEFAULT_MAX_SERVER_PER_HOST))
        here = sorted(i for i, h in others.items() if h == host)
        if len(here) >= limit:
            raise GroupPolicyViolation(
                f"anti-affinity group {group['uuid']} already has {len(here)} member(s) on host {host!r} "
                f"(max_server_per_host {limit}); instance {instance_uuid} cannot go there")
    elif policy == "affinity":
        elsewhere = sorted({h for h in others.values() if h != host})
        if elsewhere:
            raise GroupPolicyViolation(
                f"affinity group {group['uuid']} has its members on host {elsewhere[0]!r}; "
                f"instance {instance_uuid} cannot go to {host!r}")


def place_member(conn: Connection, group_uuid: str, instance_uuid: str, host: str) -> None:
    """Add the instance to the group on ``host`` (or move it there), checking the policy under the group's lock."""
    instance_uuid = check_uuid(instance_uuid, "instance uuid")
    row = _group_row(conn, group_uuid, lock=True)
    host_id(conn, host)  # the host must be registered
    current = conn.execute(
        sa.select(group_members.c.group_id, group_members.c.host).where(group_members.c.instance_uuid == instance_uuid)
    ).first()
    if current is not None and current.group_id != row["id"]:
        other = conn.execute(sa.select(server_groups.c.uuid).where(server_groups.c.id == current.group_id)).scalar()
        raise Conflict(f"instance {instance_uuid} is already a member of server group {other}",
                       "scheduler.server_group.member_elsewhere")
    others = {i: h for i, h in _members(conn, row["id"]).items() if i != instance_uuid}
    check_policy(row, others, instance_uuid, host)
    stamp = now()
    if current is None:
        conn.execute(group_members.insert().values(instance_uuid=instance_uuid, group_id=row["id"], host=host,
                                                   created_at=stamp))
    elif current.host != host:
        conn.execute(group_members.update().where(group_members.c.instance_uuid == instance_uuid)
                     .values(host=host, updated_at=stamp))


def follow_instance(conn: Connection, instance_uuid: str, host: str) -> None:
    """The instance moved to ``host``: move its group membership too, if it has one (policy checked)."""
    gid = conn.execute(
        sa.select(group_members.c.group_id).where(group_members.c.instance_uuid == instance_uuid)).scalar()
    if gid is not None:
        uuid = conn.execute(sa.select(server_groups.c.uuid).where(server_groups.c.id == gid)).scalar_one()
        place_member(conn, uuid, instance_uuid, host)


def group_of(conn: Connection, member: str) -> str | None:
    """The uuid of the server group ``member`` (an instance or a move's migration) belongs to, if any."""
    q = (sa.select(server_groups.c.uuid)
         .join(group_members, group_members.c.group_id == server_groups.c.id)
         .where(group_members.c.instance_uuid == member))
    return conn.execute(q).scalar()


def remove_member(conn: Connection, group_uuid: str, instance_uuid: str) -> None:
    row = _group_row(conn, group_uuid, lock=True)
    gone = conn.execute(group_members.delete().where(
        group_members.c.group_id == row["id"], group_members.c.instance_uuid == instance_uuid)).rowcount
    if not gone:
        raise NotFound(f"instance {instance_uuid} is not a member of server group {group_uuid}",
                       "scheduler.server_group.member_not_found")
