"""Schemathesis hooks for fuzzing placement: a refused write must leave the database as it was.

Loaded by the fuzz run with ``SCHEMATHESIS_HOOKS=tests.openapi.fuzz_hooks``; the database is
``ALLOTMENT_FUZZ_DB`` (the URL the server under test was started with). Before every write
(POST, PUT, DELETE) the rows of every placement table are read; when the answer is a 4xx
they must be unchanged, with one exception kept from upstream on purpose (see
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
        _engine = sa.create_engine(url, poolclass=sa.NullPool)
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


@schemathesis.hook
def before_call(context: Any, case: Any, kwargs: dict[str, Any]) -> None:
    if case.method.upper() in _WRITES:
        _before[id(case)] = snapshot()


@schemathesis.check
def refused_writes_change_nothing(ctx: Any, response: Any, case: Any) -> bool | None:
    before = _before.pop(id(case), None)
    if before is None or not 400 <= response.status_code < 500:
        return None
    after = snapshot()
    changed = sorted(name for name in before if before[name] != after[name])
    if changed and not _left_consumers_only(case, response, before, after, changed):
        raise AssertionError(f"{case.method} {case.formatted_path} answered {response.status_code} "
                             f"but changed the tables {', '.join(changed)}")
    return None
