"""Alembic environment of the scheduler registry (version table ``sched_alembic_version``).

Runs on the connection ``allotment.scheduler.registry.migrate`` hands in, or, from the
``alembic`` command line, on an engine built from ``-x url=...``. Only ``sched_`` tables
are ours: autogenerate ignores the rest of a database shared with placement.
"""

from __future__ import annotations

from alembic import context

from allotment.scheduler.registry.tables import metadata

VERSION_TABLE = "sched_alembic_version"


def _ours(obj: object, name: str | None, type_: str, reflected: bool, compare_to: object) -> bool:
    return type_ != "table" or bool(name and name.startswith("sched_"))


connection = context.config.attributes.get("connection")
if connection is None:
    from sqlalchemy import create_engine

    from allotment.scheduler.registry.engine import normalize_url

    url = context.get_x_argument(as_dictionary=True).get("url") or context.config.get_main_option("sqlalchemy.url")
    connection = create_engine(normalize_url(str(url))).connect()

context.configure(
    connection=connection,
    target_metadata=metadata,
    version_table=VERSION_TABLE,
    include_object=_ours,
    render_as_batch=True,
)
with context.begin_transaction():
    context.run_migrations()
