"""scheduler host registry: hosts, aggregates, server groups, instances, change log

Revision ID: sched_0001
Revises:
"""

from typing import Any

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import mysql

revision = "sched_0001"
down_revision = None
branch_labels = None
depends_on = None

_MYSQL: dict[str, Any] = {"mysql_charset": "utf8mb4", "mysql_collate": "utf8mb4_bin", "mysql_engine": "InnoDB"}
_TS = sa.DateTime().with_variant(mysql.DATETIME(fsp=6), "mysql")


def _stamps() -> list[sa.Column]:
    return [sa.Column("created_at", _TS, nullable=False), sa.Column("updated_at", _TS, nullable=True)]


def upgrade() -> None:
    state = op.create_table(
        "sched_state",
        sa.Column("id", sa.Integer(), autoincrement=False, nullable=False),
        sa.Column("generation", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("id"),
        **_MYSQL,
    )
    op.bulk_insert(state, [{"id": 1, "generation": 0}])
    op.create_table(
        "sched_changes",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), autoincrement=True, nullable=False),
        sa.Column("generation", sa.BigInteger(), nullable=False),
        sa.Column("kind", sa.String(length=1), nullable=False),
        sa.Column("ref", sa.Integer(), nullable=True),
        sa.PrimaryKeyConstraint("id"),
        **_MYSQL,
    )
    op.create_index("ix_sched_changes_generation", "sched_changes", ["generation"])
    op.create_table(
        "sched_hosts",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("name", sa.String(length=255), nullable=False),
        sa.Column("provider_uuid", sa.String(length=36), nullable=False),
        sa.Column("cell", sa.String(length=255), nullable=True),
        sa.Column("hypervisor_type", sa.String(length=255), nullable=True),
        sa.Column("hypervisor_version", sa.BigInteger(), nullable=True),
        sa.Column("hypervisor_hostname", sa.String(length=255), nullable=True),
        sa.Column("host_ip", sa.String(length=64), nullable=True),
        sa.Column("cpu_info", sa.JSON(), nullable=False),
        sa.Column("supported_instances", sa.JSON(), nullable=False),
        sa.Column("stats", sa.JSON(), nullable=False),
        sa.Column("failed_builds", sa.Integer(), nullable=False),
        sa.Column("disabled", sa.Boolean(), nullable=False),
        sa.Column("disabled_reason", sa.String(length=255), nullable=True),
        sa.Column("forced_down", sa.Boolean(), nullable=False),
        sa.Column("last_heartbeat", _TS, nullable=True),
        *_stamps(),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("name"),
        sa.UniqueConstraint("provider_uuid"),
        **_MYSQL,
    )
    op.create_table(
        "sched_aggregates",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("uuid", sa.String(length=36), nullable=False),
        sa.Column("name", sa.String(length=255), nullable=False),
        *_stamps(),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("uuid"),
        sa.UniqueConstraint("name"),
        **_MYSQL,
    )
    op.create_table(
        "sched_aggregate_metadata",
        sa.Column("aggregate_id", sa.Integer(), nullable=False),
        sa.Column("key", sa.String(length=255), nullable=False),
        sa.Column("value", sa.String(length=255), nullable=False),
        sa.ForeignKeyConstraint(["aggregate_id"], ["sched_aggregates.id"]),
        sa.PrimaryKeyConstraint("aggregate_id", "key"),
        **_MYSQL,
    )
    op.create_table(
        "sched_aggregate_hosts",
        sa.Column("aggregate_id", sa.Integer(), nullable=False),
        sa.Column("host_id", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(["aggregate_id"], ["sched_aggregates.id"]),
        sa.ForeignKeyConstraint(["host_id"], ["sched_hosts.id"]),
        sa.PrimaryKeyConstraint("aggregate_id", "host_id"),
        **_MYSQL,
    )
    op.create_index("ix_sched_aggregate_hosts_host_id", "sched_aggregate_hosts", ["host_id"])
    op.create_table(
        "sched_server_groups",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("uuid", sa.String(length=36), nullable=False),
        sa.Column("name", sa.String(length=255), nullable=False),
        sa.Column("project_id", sa.String(length=255), nullable=True),
        sa.Column("user_id", sa.String(length=255), nullable=True),
        sa.Column("policy", sa.String(length=32), nullable=False),
        sa.Column("rules", sa.JSON(), nullable=False),
        *_stamps(),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("uuid"),
        **_MYSQL,
    )
    op.create_table(
        "sched_group_members",
        sa.Column("instance_uuid", sa.String(length=36), nullable=False),
        sa.Column("group_id", sa.Integer(), nullable=False),
        sa.Column("host", sa.String(length=255), nullable=False),
        *_stamps(),
        sa.ForeignKeyConstraint(["group_id"], ["sched_server_groups.id"]),
        sa.PrimaryKeyConstraint("instance_uuid"),
        **_MYSQL,
    )
    op.create_index("ix_sched_group_members_group_id", "sched_group_members", ["group_id"])
    op.create_table(
        "sched_instances",
        sa.Column("uuid", sa.String(length=36), nullable=False),
        sa.Column("host_id", sa.Integer(), nullable=False),
        sa.Column("flavor_name", sa.String(length=255), nullable=True),
        sa.Column("vcpus", sa.Integer(), nullable=False),
        sa.Column("memory_mb", sa.Integer(), nullable=False),
        sa.Column("root_gb", sa.Integer(), nullable=False),
        sa.Column("project_id", sa.String(length=255), nullable=True),
        sa.Column("image_id", sa.String(length=255), nullable=True),
        sa.Column("task_state", sa.String(length=255), nullable=True),
        *_stamps(),
        sa.ForeignKeyConstraint(["host_id"], ["sched_hosts.id"]),
        sa.PrimaryKeyConstraint("uuid"),
        **_MYSQL,
    )
    op.create_index("ix_sched_instances_host_id", "sched_instances", ["host_id"])


def downgrade() -> None:
    for table in ("sched_instances", "sched_group_members", "sched_server_groups", "sched_aggregate_hosts",
                  "sched_aggregate_metadata", "sched_aggregates", "sched_hosts", "sched_changes", "sched_state"):
        op.drop_table(table)
