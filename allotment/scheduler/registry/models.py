"""Records the registry returns: hosts, aggregates, server groups, instances."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from typing import Any

from allotment.scheduler.spec import ServerGroup

__all__ = ["GROUP_POLICIES", "HOST_FACTS", "INSTANCE_FIELDS", "Aggregate", "Group", "Host", "Instance"]

GROUP_POLICIES = ("affinity", "anti-affinity", "soft-affinity", "soft-anti-affinity")

# What a compute host reports about itself (register/update); every key optional.
HOST_FACTS = (
    "cell", "hypervisor_type", "hypervisor_version", "hypervisor_hostname", "host_ip",
    "cpu_info", "supported_instances", "stats", "failed_builds",
)
INSTANCE_FIELDS = ("flavor_name", "vcpus", "memory_mb", "root_gb", "project_id", "image_id", "task_state")


@dataclass
class Host:
    name: str
    provider_uuid: str
    cell: str | None = None
    hypervisor_type: str | None = None
    hypervisor_version: int | None = None
    hypervisor_hostname: str | None = None
    host_ip: str | None = None
    cpu_info: dict[str, Any] = field(default_factory=dict)
    supported_instances: list[tuple[str, str, str]] = field(default_factory=list)
    stats: dict[str, str] = field(default_factory=dict)
    failed_builds: int = 0
    disabled: bool = False
    disabled_reason: str | None = None
    forced_down: bool = False
    last_heartbeat: dt.datetime | None = None
    up: bool = False  # heartbeat within the registry's service_down_time and not forced down
    aggregates: list[str] = field(default_factory=list)  # aggregate uuids
    created_at: dt.datetime | None = None
    updated_at: dt.datetime | None = None


@dataclass
class Aggregate:
    uuid: str
    name: str
    metadata: dict[str, str] = field(default_factory=dict)
    hosts: list[str] = field(default_factory=list)  # host names, sorted
    created_at: dt.datetime | None = None
    updated_at: dt.datetime | None = None


@dataclass
class Group:
    """A server group with its members (instance uuid -> host name)."""

    uuid: str
    name: str
    policy: str
    rules: dict[str, int] = field(default_factory=dict)
    project_id: str | None = None
    user_id: str | None = None
    members: dict[str, str] = field(default_factory=dict)
    created_at: dt.datetime | None = None
    updated_at: dt.datetime | None = None

    @property
    def hosts(self) -> list[str]:
        """The hosts its members are on, sorted."""
        return sorted(set(self.members.values()))

    def to_spec(self) -> ServerGroup:
        """The RequestSpec form the scheduler's filters and weighers read."""
        return ServerGroup(uuid=self.uuid, policy=self.policy, rules=dict(self.rules),
                           members=sorted(self.members), hosts=self.hosts)


@dataclass
class Instance:
    uuid: str
    host: str
    flavor_name: str | None = None
    vcpus: int = 0
    memory_mb: int = 0
    root_gb: int = 0
    project_id: str | None = None
    image_id: str | None = None
    task_state: str | None = None
    created_at: dt.datetime | None = None
    updated_at: dt.datetime | None = None
