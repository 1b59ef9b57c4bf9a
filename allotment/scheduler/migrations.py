"""Moves (resize, cold migration): the migration uuid as a second consumer, in placement and in server groups.

Placement: ``to_migration`` hands the instance's allocations on the source to the
migration consumer in one ``POST /allocations`` (each consumer with its generation); the
instance is then a new consumer and claims the destination like a boot. Confirm drops the
migration's allocations; revert and a failed move hand them back to the instance, again in
one POST, replacing whatever it holds on the destination. Nothing is stored beside
placement: what a migration holds is read back from it.

Server groups: while a move is open the instance's membership points at the destination
(checked against the policy under the group's lock, like a boot), and the migration uuid
holds a placeholder membership on the source, so no other member takes the source while a
revert may still bring the instance back. Confirm and revert each drop the placeholder
and set the membership in one registry transaction. The instance's own registry record
stays on the source until confirm.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from allotment.client import Conflict, PlacementClient
from allotment.scheduler.claims import INSTANCE, MIGRATION, allocation_body
from allotment.scheduler.placement_query import PLACEMENT_MICROVERSION
from allotment.scheduler.registry import GroupPolicyViolation, Registry
from allotment.scheduler.registry import groups as group_ops
from allotment.scheduler.registry import instances as instance_ops
from allotment.scheduler.registry.tables import group_members, server_groups

__all__ = [
    "MOVING_TASK_STATE",
    "MigrationNotFound",
    "MoveError",
    "consumer_allocations",
    "drop_migration",
    "finish_move",
    "hold_group_for_move",
    "to_instance",
    "to_migration",
]

MOVING_TASK_STATE = "resize_migrating"
_ATTEMPTS = 4  # a consumer changed between our GET and our POST: read again and retry


class MoveError(Exception):
    """The move cannot start or finish in the state placement is in (reported as a 409)."""


class MigrationNotFound(MoveError):
    """The migration consumer holds no allocations: unknown, or already confirmed or reverted."""


def consumer_allocations(placement: PlacementClient, consumer: str) -> dict[str, Any]:
    """GET /allocations/{consumer}: allocations, consumer_generation, project_id, user_id (empty when unknown)."""
    body = placement.request("GET", f"/allocations/{consumer}", microversion=PLACEMENT_MICROVERSION)
    return dict(body or {"allocations": {}})


def _retrying(step: Callable[[], Any]) -> Any:
    for attempt in range(_ATTEMPTS):
        try:
            return step()
        except Conflict:
            if attempt == _ATTEMPTS - 1:
                raise
    raise AssertionError("unreachable")


def to_migration(placement: PlacementClient, instance: str, migration: str) -> dict[str, Any]:
    """Hand the instance's allocations to the migration consumer in one POST; return them (GET shape)."""

    def step() -> dict[str, Any]:
        held = consumer_allocations(placement, instance)
        if not held["allocations"]:
            raise MoveError(f"instance {instance} holds no allocations in placement: there is nothing to move")
        if consumer_allocations(placement, migration)["allocations"]:
            raise MoveError(f"migration {migration} already holds allocations")
        owner = {"project_id": held["project_id"], "user_id": held["user_id"]}
        body = {
            migration: allocation_body(held["allocations"], **owner, consumer_type=MIGRATION, generation=None),
            instance: allocation_body({}, **owner, consumer_type=INSTANCE, generation=held["consumer_generation"]),
        }
        placement.request("POST", "/allocations", json=body, microversion=PLACEMENT_MICROVERSION)
        return held

    return _retrying(step)  # type: ignore[no-any-return]


def to_instance(placement: PlacementClient, instance: str, migration: str) -> dict[str, Any]:
    """Give the migration's allocations back to the instance (replacing what it holds) in one POST; return them."""

    def step() -> dict[str, Any]:
        held = consumer_allocations(placement, migration)
        if not held["allocations"]:
            raise MigrationNotFound(
                f"migration {migration} holds no allocations: it is unknown, or already confirmed or reverted")
        current = consumer_allocations(placement, instance)
        owner = {"project_id": held["project_id"], "user_id": held["user_id"]}
        body = {
            instance: allocation_body(held["allocations"], **owner, consumer_type=INSTANCE,
                                      generation=current.get("consumer_generation")),
            migration: allocation_body({}, **owner, consumer_type=MIGRATION, generation=held["consumer_generation"]),
        }
        placement.request("POST", "/allocations", json=body, microversion=PLACEMENT_MICROVERSION)
        return held

    return _retrying(step)  # type: ignore[no-any-return]


def drop_migration(placement: PlacementClient, migration: str) -> dict[str, Any]:
    """Confirm: free what the migration holds on the source (one POST with its generation); return it."""

    def step() -> dict[str, Any]:
        held = consumer_allocations(placement, migration)
        if not held["allocations"]:
            raise MigrationNotFound(
                f"migration {migration} holds no allocations: it is unknown, or already confirmed or reverted")
        body = {migration: allocation_body({}, project_id=held["project_id"], user_id=held["user_id"],
                                           consumer_type=MIGRATION, generation=held["consumer_generation"])}
        placement.request("POST", "/allocations", json=body, microversion=PLACEMENT_MICROVERSION)
        return held

    return _retrying(step)  # type: ignore[no-any-return]


# ---- server groups --------------------------------------------------------------------------


def _group_of(conn: Connection, member: str) -> str | None:
    q = (sa.select(server_groups.c.uuid)
         .join(group_members, group_members.c.group_id == server_groups.c.id)
         .where(group_members.c.instance_uuid == member))
    return conn.execute(q).scalar()


def hold_group_for_move(registry: Registry, group_uuid: str, instance: str, migration: str, dest: str,
                        source: str | None) -> None:
    """Point the instance's membership at ``dest`` (policy checked) and hold ``source`` with the migration uuid.

    Raises GroupPolicyViolation (nothing changed) when ``dest`` would break the policy.
    """

    def op(conn: Connection) -> None:
        group_ops.place_member(conn, group_uuid, instance, dest)
        if source is not None and source != dest:
            try:
                group_ops.place_member(conn, group_uuid, migration, source)
            except GroupPolicyViolation:
                # The source was already full without this instance (it was not counted there):
                # nothing to hold for a revert. place_member checks before it writes.
                pass

    registry.db.write(op)


def finish_move(registry: Registry, instance: str, migration: str, host: str) -> None:
    """Confirm or revert in the registry: drop the migration's placeholder, instance and membership on ``host``.

    One transaction: the placeholder held ``host`` for a revert, so the membership moving
    back cannot be refused; on confirm the membership is already there.
    """

    def op(conn: Connection) -> None:
        held_by = _group_of(conn, migration)
        if held_by is not None:
            group_ops.remove_member(conn, held_by, migration)
        group = _group_of(conn, instance)
        if group is not None:
            group_ops.place_member(conn, group, instance, host)
        instance_ops.record(conn, instance, host, {"task_state": None})

    registry.db.write(op)
