"""servers flow: instances, build requests, migrations, actions, faults

Revision ID: srv_0001
Revises:
"""

from typing import Any

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import mysql

revision = "srv_0001"
down_revision = None
branch_labels = None
depends_on = None

_MYSQL: dict[str, Any] = {"mysql_charset": "utf8mb4", "mysql_collate": "utf8mb4_bin", "mysql_engine": "InnoDB"}
_TS = sa.DateTime().with_variant(mysql.DATETIME(fsp=6), "mysql")
_BIG = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    op.create_table(
        "srv_instances",
        sa.Column("uuid", sa.String(36), nullable=False),
        sa.Column("name", sa.String(255), nullable=False),
        sa.Column("reservation_id", sa.String(32), nullable=False),
        sa.Column("project_id", sa.String(255), nullable=False),
        sa.Column("user_id", sa.String(255), nullable=False),
        sa.Column("flavor", sa.JSON(), nullable=False),
        sa.Column("image", sa.JSON(), nullable=False),
        sa.Column("availability_zone", sa.String(255), nullable=True),
        sa.Column("server_group", sa.String(36), nullable=True),
        sa.Column("cell", sa.String(255), nullable=True),
        sa.Column("host", sa.String(255), nullable=True),
        sa.Column("node", sa.String(255), nullable=True),
        sa.Column("vm_state", sa.String(32), nullable=False),
        sa.Column("task_state", sa.String(32), nullable=True),
        sa.Column("deleted", sa.Boolean(), nullable=False),
        sa.Column("created_at", _TS, nullable=False),
        sa.Column("updated_at", _TS, nullable=True),
        sa.Column("task_changed_at", _TS, nullable=False),
        sa.Column("launched_at", _TS, nullable=True),
        sa.Column("deleted_at", _TS, nullable=True),
        sa.PrimaryKeyConstraint("uuid"),
        **_MYSQL,
    )
    op.create_index("ix_srv_instances_reservation_id", "srv_instances", ["reservation_id"])
    op.create_index("ix_srv_instances_host", "srv_instances", ["host"])
    op.create_table(
        "srv_build_requests",
        sa.Column("instance_uuid", sa.String(36), nullable=False),
        sa.Column("request_spec", sa.JSON(), nullable=False),
        sa.Column("alternates", sa.JSON(), nullable=False),
        sa.Column("tried", sa.JSON(), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("created_at", _TS, nullable=False),
        sa.Column("updated_at", _TS, nullable=True),
        sa.PrimaryKeyConstraint("instance_uuid"),
        **_MYSQL,
    )
    op.create_table(
        "srv_migrations",
        sa.Column("uuid", sa.String(36), nullable=False),
        sa.Column("instance_uuid", sa.String(36), nullable=False),
        sa.Column("kind", sa.String(16), nullable=False),
        sa.Column("source_host", sa.String(255), nullable=True),
        sa.Column("dest_host", sa.String(255), nullable=True),
        sa.Column("old_flavor", sa.JSON(), nullable=False),
        sa.Column("new_flavor", sa.JSON(), nullable=False),
        sa.Column("status", sa.String(32), nullable=False),
        sa.Column("created_at", _TS, nullable=False),
        sa.Column("updated_at", _TS, nullable=True),
        sa.PrimaryKeyConstraint("uuid"),
        **_MYSQL,
    )
    op.create_index("ix_srv_migrations_instance_uuid", "srv_migrations", ["instance_uuid"])
    op.create_index("ix_srv_migrations_status", "srv_migrations", ["status"])
    op.create_table(
        "srv_actions",
        sa.Column("id", _BIG, autoincrement=True, nullable=False),
        sa.Column("instance_uuid", sa.String(36), nullable=False),
        sa.Column("action", sa.String(32), nullable=False),
        sa.Column("request_id", sa.String(64), nullable=True),
        sa.Column("user_id", sa.String(255), nullable=True),
        sa.Column("project_id", sa.String(255), nullable=True),
        sa.Column("start_time", _TS, nullable=False),
        sa.Column("finish_time", _TS, nullable=True),
        sa.Column("result", sa.String(16), nullable=True),
        sa.Column("message", sa.Text(), nullable=True),
        sa.PrimaryKeyConstraint("id"),
        **_MYSQL,
    )
    op.create_index("ix_srv_actions_instance_uuid", "srv_actions", ["instance_uuid"])
    op.create_table(
        "srv_faults",
        sa.Column("id", _BIG, autoincrement=True, nullable=False),
        sa.Column("instance_uuid", sa.String(36), nullable=False),
        sa.Column("code", sa.Integer(), nullable=False),
        sa.Column("message", sa.String(255), nullable=False),
        sa.Column("details", sa.Text(), nullable=False),
        sa.Column("created_at", _TS, nullable=False),
        sa.PrimaryKeyConstraint("id"),
        **_MYSQL,
    )
    op.create_index("ix_srv_faults_instance_uuid", "srv_faults", ["instance_uuid"])


def downgrade() -> None:
    for name in ("srv_faults", "srv_actions", "srv_migrations", "srv_build_requests", "srv_instances"):
        op.drop_table(name)
