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
stays on the source until confirm. The registry side is ``Registry.hold_group_for_move``
and ``Registry.finish_move``.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TypeVar

from allotment.client import Allocations, Conflict, PlacementClient
from allotment.scheduler.claims import INSTANCE, MIGRATION
from allotment.scheduler.errors import MigrationNotFound, MoveError

__all__ = [
    "MOVING_TASK_STATE",
    "MigrationNotFound",
    "MoveError",
    "drop_migration",
    "held_by",
    "migration_allocations",
    "to_instance",
    "to_migration",
]

MOVING_TASK_STATE = "resize_migrating"
_ATTEMPTS = 4  # a consumer changed between our GET and our POST: read again and retry
T = TypeVar("T")


def held_by(placement: PlacementClient, consumer: str) -> Allocations:
    """What ``consumer`` holds in placement (no allocations when it is unknown)."""
    return placement.get_allocations(consumer)


def _retrying(step: Callable[[], T]) -> T:
    for attempt in range(_ATTEMPTS):
        try:
            return step()
        except Conflict:
            if attempt == _ATTEMPTS - 1:
                raise
    raise AssertionError("unreachable")


def _as(held: Allocations, allocations: dict[str, dict[str, int]], consumer_type: str,
        generation: int | None) -> Allocations:
    return Allocations(allocations=allocations, project_id=held.project_id, user_id=held.user_id,
                       consumer_generation=generation, consumer_type=consumer_type)


def _migration_held(placement: PlacementClient, migration: str) -> Allocations:
    held = held_by(placement, migration)
    if not held.allocations:
        raise MigrationNotFound(
            f"migration {migration} holds no allocations: it is unknown, or already confirmed or reverted")
    return held


def to_migration(placement: PlacementClient, instance: str, migration: str) -> Allocations:
    """Hand the instance's allocations to the migration consumer in one POST; return them."""

    def step() -> Allocations:
        held = held_by(placement, instance)
        if not held.allocations:
            raise MoveError(f"instance {instance} holds no allocations in placement: there is nothing to move")
        if held_by(placement, migration).allocations:
            raise MoveError(f"migration {migration} already holds allocations")
        placement.post_allocations({
            migration: _as(held, held.allocations, MIGRATION, None),
            instance: _as(held, {}, INSTANCE, held.consumer_generation),
        })
        return held

    return _retrying(step)


def to_instance(placement: PlacementClient, instance: str, migration: str) -> Allocations:
    """Give the migration's allocations back to the instance (replacing what it holds) in one POST; return them."""

    def step() -> Allocations:
        held = _migration_held(placement, migration)
        current = held_by(placement, instance)
        placement.post_allocations({
            instance: _as(held, held.allocations, INSTANCE, current.consumer_generation),
            migration: _as(held, {}, MIGRATION, held.consumer_generation),
        })
        return held

    return _retrying(step)


def drop_migration(placement: PlacementClient, migration: str) -> Allocations:
    """Confirm: free what the migration holds on the source (one POST with its generation); return it."""

    def step() -> Allocations:
        held = _migration_held(placement, migration)
        placement.post_allocations({migration: _as(held, {}, MIGRATION, held.consumer_generation)})
        return held

    return _retrying(step)


def migration_allocations(placement: PlacementClient, migration: str) -> dict[str, dict[str, int]]:
    """Provider uuid -> resources the migration holds; MigrationNotFound when it holds none."""
    return _migration_held(placement, migration).allocations
