"""Alembic environment of the servers flow (version table ``srv_alembic_version``); only ``srv_`` tables are ours."""

from __future__ import annotations

from allotment.infra.migrate import run_environment
from allotment.servers.store.tables import metadata

VERSION_TABLE = "srv_alembic_version"


def _ours(obj: object, name: str | None, type_: str, reflected: bool, compare_to: object) -> bool:
    return type_ != "table" or bool(name and name.startswith("srv_"))


run_environment(metadata, version_table=VERSION_TABLE, include_object=_ours)
