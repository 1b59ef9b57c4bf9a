"""Schemathesis hooks for fuzzing placement: a refused write must leave the database as it was.

Loaded by the fuzz run with ``SCHEMATHESIS_HOOKS=tests.openapi.fuzz_hooks``; the database is
``ALLOTMENT_FUZZ_DB`` (the URL the server under test was started with). Before every write
(POST, PUT, DELETE) and after it the rows of every placement table are read; when the answer
is a 4xx they must be unchanged, with one exception kept from upstream on purpose (see
``allotment.placement.api.handlers.allocation.write_claims``): an allocation write refused
because it names a provider that does not exist keeps the consumers it created, at
generation 0, holding nothing (with their project and user records).
"""

from __future__ import annotations

import os
from typing import Any

import schemathesis
import sqlalchemy as sa

from allotment.placement.store.tables import metadata

_WRITES = {"POST", "PUT", "DELETE"}
_CLAIMS = {"/allocations", "/allocations/{consumer_uuid}", "/reshaper"}
_engine: sa.Engine | None = None
_before: dict[int, dict[str, set[tuple[Any, ...]]]] = {}


def _db() -> sa.Engine:
    global _engine
    if _engine is None:
        url = os.environ["ALLOTMENT_FUZZ_DB"]
        # A pooled connection for server databases (a new one per snapshot would cost more than the
        # request); none kept open on SQLite files.
        _engine = sa.create_engine(url, poolclass=sa.NullPool) if url.startswith("sqlite") else sa.create_engine(url)
    return _engine


def snapshot() -> dict[str, set[tuple[Any, ...]]]:
    """Table name -> its rows."""
    with _db().connect() as conn:
        return {table.name: {tuple(r) for r in conn.execute(sa.select(table))} for table in metadata.sorted_tables}


def _left_consumers_only(case: Any, response: Any, before: dict[str, Any], after: dict[str, Any],
                         changed: list[str]) -> bool:
    """The upstream exception: new consumers at generation 0, nothing else, after a missing provider."""
    if case.path not in _CLAIMS or "that does not exist" not in response.text:
        return False
    if not set(changed) <= {"consumers", "projects", "users"} or before["consumers"] - after["consumers"]:
        return False
    generation = metadata.tables["consumers"].c.keys().index("generation")
    return all(row[generation] == 0 for row in after["consumers"] - before["consumers"])


# Only writes change the tables and the run sends one request at a time, so the state after one
# write is the state before the next: one read of the tables per write, not two. (Were a write
# to slip past these hooks, the next refused one would be blamed for its change: a false alarm,
# never a missed one.)
_current: dict[str, set[tuple[Any, ...]]] | None = None
_after: dict[int, dict[str, set[tuple[Any, ...]]]] = {}


@schemathesis.hook
def before_call(context: Any, case: Any, kwargs: dict[str, Any]) -> None:
    global _current
    if case.method.upper() in _WRITES:
        if _current is None:
            _current = snapshot()
        _before[id(case)] = _current


@schemathesis.hook
def after_call(context: Any, case: Any, response: Any) -> None:
    global _current
    if case.method.upper() in _WRITES:
        _current = _after[id(case)] = snapshot()


@schemathesis.check
def refused_writes_change_nothing(ctx: Any, response: Any, case: Any) -> bool | None:
    before, after = _before.pop(id(case), None), _after.pop(id(case), None)
    if before is None or after is None or not 400 <= response.status_code < 500:
        return None
    changed = sorted(name for name in before if before[name] != after[name])
    if changed and not _left_consumers_only(case, response, before, after, changed):
        raise AssertionError(f"{case.method} {case.formatted_path} answered {response.status_code} "
                             f"but changed the tables {', '.join(changed)}")
    return None
