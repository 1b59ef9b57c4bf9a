"""host topology: NUMA/PCI documents per host, topology claims, pinned CPUs and claimed devices

Revision ID: sched_0002_topology
Revises: sched_0001
"""

from typing import Any

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import mysql

revision = "sched_0002_topology"
down_revision = "sched_0001"
branch_labels = None
depends_on = None

_MYSQL: dict[str, Any] = {"mysql_charset": "utf8mb4", "mysql_collate": "utf8mb4_bin", "mysql_engine": "InnoDB"}
_TS = sa.DateTime().with_variant(mysql.DATETIME(fsp=6), "mysql")


def upgrade() -> None:
    op.create_table(
        "sched_host_topologies",
        sa.Column("host_id", sa.Integer(), nullable=False),
        sa.Column("topology", sa.JSON(), nullable=False),
        sa.Column("generation", sa.BigInteger(), nullable=False),
        sa.Column("created_at", _TS, nullable=False),
        sa.Column("updated_at", _TS, nullable=True),
        sa.ForeignKeyConstraint(["host_id"], ["sched_hosts.id"]),
        sa.PrimaryKeyConstraint("host_id"),
        **_MYSQL,
    )
    op.create_table(
        "sched_topology_claims",
        sa.Column("consumer_uuid", sa.String(length=36), nullable=False),
        sa.Column("host_id", sa.Integer(), nullable=False),
        sa.Column("fit", sa.JSON(), nullable=False),
        sa.Column("created_at", _TS, nullable=False),
        sa.ForeignKeyConstraint(["host_id"], ["sched_hosts.id"]),
        sa.PrimaryKeyConstraint("consumer_uuid", "host_id"),
        **_MYSQL,
    )
    op.create_index("ix_sched_topology_claims_host_id", "sched_topology_claims", ["host_id"])
    op.create_table(
        "sched_pinned_cpus",
        sa.Column("host_id", sa.Integer(), nullable=False),
        sa.Column("cpu", sa.Integer(), autoincrement=False, nullable=False),
        sa.Column("consumer_uuid", sa.String(length=36), nullable=False),
        sa.ForeignKeyConstraint(["host_id"], ["sched_hosts.id"]),
        sa.PrimaryKeyConstraint("host_id", "cpu"),
        **_MYSQL,
    )
    op.create_index("ix_sched_pinned_cpus_consumer_uuid", "sched_pinned_cpus", ["consumer_uuid"])
    op.create_table(
        "sched_claimed_devices",
        sa.Column("host_id", sa.Integer(), nullable=False),
        sa.Column("address", sa.String(length=16), nullable=False),
        sa.Column("consumer_uuid", sa.String(length=36), nullable=False),
        sa.ForeignKeyConstraint(["host_id"], ["sched_hosts.id"]),
        sa.PrimaryKeyConstraint("host_id", "address"),
        **_MYSQL,
    )
    op.create_index("ix_sched_claimed_devices_consumer_uuid", "sched_claimed_devices", ["consumer_uuid"])


def downgrade() -> None:
    op.drop_table("sched_claimed_devices")
    op.drop_table("sched_pinned_cpus")
    op.drop_table("sched_topology_claims")
    op.drop_table("sched_host_topologies")
