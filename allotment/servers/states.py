"""Nova's server states: ``vm_state`` (where the server is), ``task_state`` (what is happening to it), API ``status``."""

from __future__ import annotations

__all__ = ["MIGRATION_IN_PROGRESS", "TRANSITIONAL_TASKS", "status_of"]

# vm_state
BUILDING = "building"
ACTIVE = "active"
RESIZED = "resized"  # a resize or cold migration waits for confirm or revert
ERROR = "error"
DELETED = "deleted"

# task_state
SCHEDULING = "scheduling"
SPAWNING = "spawning"
DELETING = "deleting"
RESIZE_PREP = "resize_prep"
RESIZE_MIGRATING = "resize_migrating"
RESIZE_FINISH = "resize_finish"
RESIZE_CONFIRMING = "resize_confirming"
RESIZE_REVERTING = "resize_reverting"
REBUILDING = "rebuilding"  # evacuate
REBUILD_SPAWNING = "rebuild_spawning"

TRANSITIONAL_TASKS = frozenset({SCHEDULING, SPAWNING, DELETING, RESIZE_PREP, RESIZE_MIGRATING, RESIZE_FINISH,
                                RESIZE_CONFIRMING, RESIZE_REVERTING, REBUILDING, REBUILD_SPAWNING})

# migration.status
MIG_PRE = "pre-migrating"
MIG_MIGRATING = "migrating"
MIG_FINISHED = "finished"  # resized, waiting for confirm/revert
MIG_DONE = "done"  # evacuated; the migration keeps the dead source's allocations until it comes back
MIG_CONFIRMED = "confirmed"
MIG_REVERTED = "reverted"
MIG_COMPLETED = "completed"  # evacuation source cleaned up
MIG_ERROR = "error"
# Migrations whose consumer may hold allocations in placement.
MIGRATION_IN_PROGRESS = frozenset({MIG_PRE, MIG_MIGRATING, MIG_FINISHED, MIG_DONE})

_STATUS = {BUILDING: "BUILD", ACTIVE: "ACTIVE", RESIZED: "VERIFY_RESIZE", ERROR: "ERROR", DELETED: "DELETED"}
_TASK_STATUS = {RESIZE_PREP: "RESIZE", RESIZE_MIGRATING: "RESIZE", RESIZE_FINISH: "RESIZE",
                RESIZE_REVERTING: "REVERT_RESIZE", REBUILDING: "REBUILD", REBUILD_SPAWNING: "REBUILD"}


def status_of(vm_state: str, task_state: str | None) -> str:
    """The API's ``status`` (BUILD, ACTIVE, VERIFY_RESIZE, RESIZE, REBUILD, ERROR, DELETED), as Nova derives it."""
    if vm_state == ACTIVE and task_state in _TASK_STATUS:
        return _TASK_STATUS[task_state]
    if vm_state == RESIZED and task_state == RESIZE_REVERTING:
        return "REVERT_RESIZE"
    return _STATUS.get(vm_state, vm_state.upper())
