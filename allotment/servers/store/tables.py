"""The servers flow schema: SQLAlchemy Core tables, every name prefixed ``srv_``.

One database may hold placement, the scheduler registry and these tables (the prefix and
the version table ``srv_alembic_version`` keep them apart). Cells share this database: a
server's ``cell`` column says which cell it lives in (``cell0`` for servers that never
got a host), rather than one database per cell.
"""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects import mysql

__all__ = ["actions", "build_requests", "faults", "instances", "metadata", "migrations"]

metadata = sa.MetaData()

_MYSQL: dict[str, Any] = {"mysql_charset": "utf8mb4", "mysql_collate": "utf8mb4_bin", "mysql_engine": "InnoDB"}
Timestamp = sa.DateTime().with_variant(mysql.DATETIME(fsp=6), "mysql")
BigId = sa.BigInteger().with_variant(sa.Integer, "sqlite")

instances = sa.Table(
    "srv_instances",
    metadata,
    sa.Column("uuid", sa.String(36), primary_key=True),
    sa.Column("name", sa.String(255), nullable=False),
    sa.Column("reservation_id", sa.String(32), nullable=False, index=True),
    sa.Column("project_id", sa.String(255), nullable=False),
    sa.Column("user_id", sa.String(255), nullable=False),
    sa.Column("flavor", sa.JSON, nullable=False),
    sa.Column("image", sa.JSON, nullable=False),
    sa.Column("availability_zone", sa.String(255), nullable=True),
    sa.Column("server_group", sa.String(36), nullable=True),
    sa.Column("cell", sa.String(255), nullable=True),
    sa.Column("host", sa.String(255), nullable=True, index=True),
    sa.Column("node", sa.String(255), nullable=True),
    sa.Column("vm_state", sa.String(32), nullable=False),
    sa.Column("task_state", sa.String(32), nullable=True),
    sa.Column("deleted", sa.Boolean, nullable=False),
    sa.Column("created_at", Timestamp, nullable=False),
    sa.Column("updated_at", Timestamp, nullable=True),
    sa.Column("task_changed_at", Timestamp, nullable=False),  # when task_state last changed: stuck detection
    sa.Column("launched_at", Timestamp, nullable=True),
    sa.Column("deleted_at", Timestamp, nullable=True),
    **_MYSQL,
)

# What the conductor needs to (re)schedule a server: the request and the alternates not yet tried.
build_requests = sa.Table(
    "srv_build_requests",
    metadata,
    sa.Column("instance_uuid", sa.String(36), primary_key=True),
    sa.Column("request_spec", sa.JSON, nullable=False),
    sa.Column("alternates", sa.JSON, nullable=False),
    sa.Column("tried", sa.JSON, nullable=False),
    sa.Column("attempts", sa.Integer, nullable=False),
    sa.Column("created_at", Timestamp, nullable=False),
    sa.Column("updated_at", Timestamp, nullable=True),
    **_MYSQL,
)

migrations = sa.Table(
    "srv_migrations",
    metadata,
    sa.Column("uuid", sa.String(36), primary_key=True),
    sa.Column("instance_uuid", sa.String(36), nullable=False, index=True),
    sa.Column("kind", sa.String(16), nullable=False),  # resize | migration | evacuation
    sa.Column("source_host", sa.String(255), nullable=True),
    sa.Column("dest_host", sa.String(255), nullable=True),
    sa.Column("old_flavor", sa.JSON, nullable=False),
    sa.Column("new_flavor", sa.JSON, nullable=False),
    sa.Column("status", sa.String(32), nullable=False, index=True),
    sa.Column("created_at", Timestamp, nullable=False),
    sa.Column("updated_at", Timestamp, nullable=True),
    **_MYSQL,
)

actions = sa.Table(
    "srv_actions",
    metadata,
    sa.Column("id", BigId, primary_key=True, autoincrement=True),
    sa.Column("instance_uuid", sa.String(36), nullable=False, index=True),
    sa.Column("action", sa.String(32), nullable=False),
    sa.Column("request_id", sa.String(64), nullable=True),
    sa.Column("user_id", sa.String(255), nullable=True),
    sa.Column("project_id", sa.String(255), nullable=True),
    sa.Column("start_time", Timestamp, nullable=False),
    sa.Column("finish_time", Timestamp, nullable=True),
    sa.Column("result", sa.String(16), nullable=True),  # Success | Error; None while running
    sa.Column("message", sa.Text, nullable=True),
    **_MYSQL,
)

faults = sa.Table(
    "srv_faults",
    metadata,
    sa.Column("id", BigId, primary_key=True, autoincrement=True),
    sa.Column("instance_uuid", sa.String(36), nullable=False, index=True),
    sa.Column("code", sa.Integer, nullable=False),
    sa.Column("message", sa.String(255), nullable=False),
    sa.Column("details", sa.Text, nullable=False),
    sa.Column("created_at", Timestamp, nullable=False),
    **_MYSQL,
)
