"""The registry schema: SQLAlchemy Core tables, every name prefixed ``sched_``.

The prefix (and the Alembic version table ``sched_alembic_version``) lets the registry
share a database with placement. Ids are internal; the API speaks host names and uuids.

``sched_state`` holds one row whose ``generation`` every write except a heartbeat
bumps; ``sched_changes`` names what that write touched (``kind`` ``h`` host, ``a``
aggregate, ``*`` everything) so a reader's snapshot reloads only that.
"""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects import mysql

__all__ = [
    "aggregate_hosts",
    "aggregate_metadata",
    "aggregates",
    "changes",
    "claimed_devices",
    "group_members",
    "host_topologies",
    "hosts",
    "instances",
    "metadata",
    "pinned_cpus",
    "server_groups",
    "state",
    "topology_claims",
]

metadata = sa.MetaData()

# MySQL/MariaDB: byte-wise comparison so names are case-sensitive as on the other backends.
_MYSQL: dict[str, Any] = {"mysql_charset": "utf8mb4", "mysql_collate": "utf8mb4_bin", "mysql_engine": "InnoDB"}
# MySQL's DATETIME drops fractions of a second unless asked.
Timestamp = sa.DateTime().with_variant(mysql.DATETIME(fsp=6), "mysql")
BigId = sa.BigInteger().with_variant(sa.Integer, "sqlite")  # SQLite autoincrements INTEGER PRIMARY KEY only


def _stamps() -> list[sa.Column[object]]:
    return [sa.Column("created_at", Timestamp, nullable=False), sa.Column("updated_at", Timestamp, nullable=True)]


state = sa.Table(
    "sched_state",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=False),
    sa.Column("generation", sa.BigInteger, nullable=False),
    **_MYSQL,
)

changes = sa.Table(
    "sched_changes",
    metadata,
    sa.Column("id", BigId, primary_key=True, autoincrement=True),
    sa.Column("generation", sa.BigInteger, nullable=False, index=True),
    sa.Column("kind", sa.String(1), nullable=False),
    sa.Column("ref", sa.Integer, nullable=True),
    **_MYSQL,
)

hosts = sa.Table(
    "sched_hosts",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("name", sa.String(255), nullable=False, unique=True),
    sa.Column("provider_uuid", sa.String(36), nullable=False, unique=True),
    sa.Column("cell", sa.String(255), nullable=True),
    sa.Column("hypervisor_type", sa.String(255), nullable=True),
    sa.Column("hypervisor_version", sa.BigInteger, nullable=True),
    sa.Column("hypervisor_hostname", sa.String(255), nullable=True),
    sa.Column("host_ip", sa.String(64), nullable=True),
    sa.Column("cpu_info", sa.JSON, nullable=False),
    sa.Column("supported_instances", sa.JSON, nullable=False),
    sa.Column("stats", sa.JSON, nullable=False),
    sa.Column("failed_builds", sa.Integer, nullable=False),
    sa.Column("disabled", sa.Boolean, nullable=False),
    sa.Column("disabled_reason", sa.String(255), nullable=True),
    sa.Column("forced_down", sa.Boolean, nullable=False),
    sa.Column("last_heartbeat", Timestamp, nullable=True),
    *_stamps(),
    **_MYSQL,
)

aggregates = sa.Table(
    "sched_aggregates",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("uuid", sa.String(36), nullable=False, unique=True),
    sa.Column("name", sa.String(255), nullable=False, unique=True),
    *_stamps(),
    **_MYSQL,
)

aggregate_metadata = sa.Table(
    "sched_aggregate_metadata",
    metadata,
    sa.Column("aggregate_id", sa.Integer, sa.ForeignKey("sched_aggregates.id"), primary_key=True),
    sa.Column("key", sa.String(255), primary_key=True),
    sa.Column("value", sa.String(255), nullable=False),
    **_MYSQL,
)

aggregate_hosts = sa.Table(
    "sched_aggregate_hosts",
    metadata,
    sa.Column("aggregate_id", sa.Integer, sa.ForeignKey("sched_aggregates.id"), primary_key=True),
    sa.Column("host_id", sa.Integer, sa.ForeignKey("sched_hosts.id"), primary_key=True, index=True),
    **_MYSQL,
)

server_groups = sa.Table(
    "sched_server_groups",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("uuid", sa.String(36), nullable=False, unique=True),
    sa.Column("name", sa.String(255), nullable=False),
    sa.Column("project_id", sa.String(255), nullable=True),
    sa.Column("user_id", sa.String(255), nullable=True),
    sa.Column("policy", sa.String(32), nullable=False),
    sa.Column("rules", sa.JSON, nullable=False),
    *_stamps(),
    **_MYSQL,
)

# An instance belongs to at most one group; ``host`` is the host name it was placed on.
group_members = sa.Table(
    "sched_group_members",
    metadata,
    sa.Column("instance_uuid", sa.String(36), primary_key=True),
    sa.Column("group_id", sa.Integer, sa.ForeignKey("sched_server_groups.id"), nullable=False, index=True),
    sa.Column("host", sa.String(255), nullable=False),
    *_stamps(),
    **_MYSQL,
)

instances = sa.Table(
    "sched_instances",
    metadata,
    sa.Column("uuid", sa.String(36), primary_key=True),
    sa.Column("host_id", sa.Integer, sa.ForeignKey("sched_hosts.id"), nullable=False, index=True),
    sa.Column("flavor_name", sa.String(255), nullable=True),
    sa.Column("vcpus", sa.Integer, nullable=False),
    sa.Column("memory_mb", sa.Integer, nullable=False),
    sa.Column("root_gb", sa.Integer, nullable=False),
    sa.Column("project_id", sa.String(255), nullable=True),
    sa.Column("image_id", sa.String(255), nullable=True),
    sa.Column("task_state", sa.String(255), nullable=True),
    *_stamps(),
    **_MYSQL,
)

# A host's topology document (allotment.scheduler.topology.host); ``generation`` counts claims
# and changes so a writer can tell its read went stale.
host_topologies = sa.Table(
    "sched_host_topologies",
    metadata,
    sa.Column("host_id", sa.Integer, sa.ForeignKey("sched_hosts.id"), primary_key=True),
    sa.Column("topology", sa.JSON, nullable=False),
    sa.Column("generation", sa.BigInteger, nullable=False),
    *_stamps(),
    **_MYSQL,
)

# One consumer's fit on one host (cells, pinning, pages, devices); a move holds two hosts.
topology_claims = sa.Table(
    "sched_topology_claims",
    metadata,
    sa.Column("consumer_uuid", sa.String(36), primary_key=True),
    sa.Column("host_id", sa.Integer, sa.ForeignKey("sched_hosts.id"), primary_key=True, index=True),
    sa.Column("fit", sa.JSON, nullable=False),
    sa.Column("created_at", Timestamp, nullable=False),
    **_MYSQL,
)

# The primary keys are what makes "no CPU or device twice" a database guarantee.
pinned_cpus = sa.Table(
    "sched_pinned_cpus",
    metadata,
    sa.Column("host_id", sa.Integer, sa.ForeignKey("sched_hosts.id"), primary_key=True),
    sa.Column("cpu", sa.Integer, primary_key=True, autoincrement=False),
    sa.Column("consumer_uuid", sa.String(36), nullable=False, index=True),
    **_MYSQL,
)

claimed_devices = sa.Table(
    "sched_claimed_devices",
    metadata,
    sa.Column("host_id", sa.Integer, sa.ForeignKey("sched_hosts.id"), primary_key=True),
    sa.Column("address", sa.String(16), primary_key=True),
    sa.Column("consumer_uuid", sa.String(36), nullable=False, index=True),
    **_MYSQL,
)
