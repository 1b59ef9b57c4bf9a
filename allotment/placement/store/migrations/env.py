"""Alembic environment: runs migrations on the connection handed in by ``store.migrate``."""

from __future__ import annotations

from allotment.infra.migrate import run_environment
from allotment.placement.store.tables import metadata

run_environment(metadata)
