"""The change counter and log every registry write (except heartbeats) goes through.

``bump`` runs last in a write transaction: it increments ``sched_state.generation``
(holding that row's lock until commit, so generations commit in order and a reader
never sees generation n+1 without n) and logs what the write touched under the new
generation. Readers compare one number per call and reload only what was named.
"""

from __future__ import annotations

from collections.abc import Iterable

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from allotment.scheduler.registry.tables import changes, state

__all__ = ["KEEP_GENERATIONS", "bump", "current"]

KEEP_GENERATIONS = 20_000  # log entries kept; a reader further behind reloads everything
PRUNE_EVERY = 1_000

# Built once: every registry write ends here.
_CURRENT = sa.select(state.c.generation).where(state.c.id == 1)
_STEP = state.update().where(state.c.id == 1).values(generation=state.c.generation + 1)
_STEP_RETURNING = _STEP.returning(state.c.generation)
_LOG = changes.insert()


def current(conn: Connection) -> int:
    return int(conn.execute(_CURRENT).scalar_one())


def bump(conn: Connection, *, hosts: Iterable[int] = (), aggregates: Iterable[int] = (),
         everything: bool = False) -> int:
    """Advance the generation and log the touched hosts and aggregates; the new generation."""
    if conn.dialect.update_returning:  # SQLite and PostgreSQL: one statement instead of two
        gen = int(conn.execute(_STEP_RETURNING).scalar_one())
    else:  # MariaDB/MySQL have no UPDATE ... RETURNING
        conn.execute(_STEP)
        gen = current(conn)
    if everything:
        rows = [{"generation": gen, "kind": "*", "ref": None}]
    else:
        rows = [{"generation": gen, "kind": "h", "ref": h} for h in sorted(set(hosts))]
        rows += [{"generation": gen, "kind": "a", "ref": a} for a in sorted(set(aggregates))]
        if not rows:  # every generation has an entry, so a reader can tell when entries were pruned
            rows = [{"generation": gen, "kind": "-", "ref": None}]
    conn.execute(_LOG, rows)
    if gen % PRUNE_EVERY == 0:
        conn.execute(changes.delete().where(changes.c.generation <= gen - KEEP_GENERATIONS))
    return gen
