"""Record which providers a write changed, for the read models of all workers, and keep that log short.

Every write transaction that changes a provider's inventory, usage, traits,
aggregates or place in a tree calls ``touch`` with the provider ids; the row
commits or rolls back with the write itself.

Pruning is part of the write path, never of a read: once a process has logged
``PRUNE_EVERY`` rows, its next logging write also deletes old rows (older than
``KEEP_AGE`` or beyond the newest ``KEEP_ROWS``; never the newest row), at most
``PRUNE_BATCH`` of them, so the maintenance one write carries stays bounded. A
step may delete ten times what was logged since the last one, so pruning keeps
up with any write rate.
"""

from __future__ import annotations

import datetime as dt
import threading
from collections.abc import Iterable

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from allotment.placement.domain.common import now
from allotment.placement.store.tables import changes

__all__ = ["KEEP_AGE", "KEEP_ROWS", "PRUNE_BATCH", "PRUNE_EVERY", "prune", "touch", "touch_all"]

KEEP_AGE = 3600.0  # seconds of change rows kept
KEEP_ROWS = 100_000  # newest change rows always kept
PRUNE_EVERY = 1_000  # rows one process logs between two prune steps
PRUNE_BATCH = 10_000  # most rows one prune step deletes

_logged_lock = threading.Lock()  # request threads of one process share the count
_logged = 0  # rows this process logged since its last prune step


def touch(conn: Connection, provider_ids: Iterable[int], *, usage_only: bool = False) -> None:
    """Log the providers changed; ``usage_only`` when the write changed only their allocations
    (usage and generation), which lets read models skip rereading the rest."""
    stamp = now()
    rows = [
        {"provider_id": pid, "changed_at": stamp, "usage_only": usage_only} for pid in sorted(set(provider_ids))
    ]
    if rows:
        conn.execute(changes.insert(), rows)
        _maintain(conn, len(rows))


def touch_all(conn: Connection) -> None:
    """Something changed that is not tied to one provider (say a class renamed): reload everything."""
    conn.execute(changes.insert().values(provider_id=None, changed_at=now()))
    _maintain(conn, 1)


def _maintain(conn: Connection, logged: int) -> None:
    global _logged
    with _logged_lock:
        _logged += logged
        due = _logged >= PRUNE_EVERY
        if due:
            _logged = 0
    if due:
        prune(conn)


def prune(
    conn: Connection, *, keep_age: float = KEEP_AGE, keep_rows: int = KEEP_ROWS, limit: int = PRUNE_BATCH
) -> int:
    """Delete up to ``limit`` of the oldest rows that are past keeping (never the newest); how many."""
    lo, hi = conn.execute(sa.select(sa.func.min(changes.c.id), sa.func.max(changes.c.id))).one()
    if hi is None:
        return 0
    cut = hi - keep_rows
    cutoff_time = now() - dt.timedelta(seconds=keep_age)
    old = conn.execute(sa.select(sa.func.max(changes.c.id)).where(changes.c.changed_at < cutoff_time)).scalar()
    if old is not None:
        cut = max(cut, old + 1)
    cut = min(cut, hi, lo + limit)
    if cut <= lo:
        return 0
    return conn.execute(changes.delete().where(changes.c.id < cut)).rowcount or 0
