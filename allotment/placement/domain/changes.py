"""Record which providers a write changed, for the read models of all workers.

Every write transaction that changes a provider's inventory, usage, traits,
aggregates or place in a tree calls ``touch`` with the provider ids; the row
commits or rolls back with the write itself.
"""

from __future__ import annotations

from collections.abc import Iterable

from sqlalchemy.engine import Connection

from allotment.placement.domain.common import now
from allotment.placement.store.tables import changes

__all__ = ["touch", "touch_all"]


def touch(conn: Connection, provider_ids: Iterable[int]) -> None:
    stamp = now()
    rows = [{"provider_id": pid, "changed_at": stamp} for pid in sorted(set(provider_ids))]
    if rows:
        conn.execute(changes.insert(), rows)


def touch_all(conn: Connection) -> None:
    """Something changed that is not tied to one provider (say a class renamed): reload everything."""
    conn.execute(changes.insert().values(provider_id=None, changed_at=now()))
