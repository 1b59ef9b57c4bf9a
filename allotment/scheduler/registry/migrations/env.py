"""Alembic environment of the scheduler registry (version table ``sched_alembic_version``).

Runs on the connection ``allotment.scheduler.registry.migrate`` hands in, or, from the
``alembic`` command line, on an engine built from ``-x url=...``. Only ``sched_`` tables
are ours: autogenerate ignores the rest of a database shared with placement.
"""

from __future__ import annotations

from allotment.infra.migrate import run_environment
from allotment.scheduler.registry.tables import metadata

VERSION_TABLE = "sched_alembic_version"


def _ours(obj: object, name: str | None, type_: str, reflected: bool, compare_to: object) -> bool:
    return type_ != "table" or bool(name and name.startswith("sched_"))


run_environment(metadata, version_table=VERSION_TABLE, include_object=_ours)
