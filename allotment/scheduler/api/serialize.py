"""Registry records as the JSON the API returns."""

from __future__ import annotations

from typing import Any

from allotment.scheduler.registry.models import Aggregate, Group, Host, Instance

__all__ = ["aggregate_json", "group_json", "host_json", "instance_json"]


def host_json(h: Host) -> dict[str, Any]:
    return {
        "name": h.name, "provider_uuid": h.provider_uuid, "cell": h.cell, "hypervisor_type": h.hypervisor_type,
        "hypervisor_version": h.hypervisor_version, "hypervisor_hostname": h.hypervisor_hostname,
        "host_ip": h.host_ip, "cpu_info": h.cpu_info, "supported_instances": [list(t) for t in h.supported_instances],
        "stats": h.stats, "failed_builds": h.failed_builds, "disabled": h.disabled,
        "disabled_reason": h.disabled_reason, "forced_down": h.forced_down, "up": h.up,
        "last_heartbeat": h.last_heartbeat, "aggregates": h.aggregates, "created_at": h.created_at,
        "updated_at": h.updated_at,
    }


def aggregate_json(a: Aggregate) -> dict[str, Any]:
    return {"uuid": a.uuid, "name": a.name, "metadata": a.metadata, "hosts": a.hosts, "created_at": a.created_at,
            "updated_at": a.updated_at}


def group_json(g: Group) -> dict[str, Any]:
    return {"uuid": g.uuid, "name": g.name, "policy": g.policy, "rules": g.rules, "project_id": g.project_id,
            "user_id": g.user_id, "members": g.members, "hosts": g.hosts, "created_at": g.created_at,
            "updated_at": g.updated_at}


def instance_json(i: Instance) -> dict[str, Any]:
    return {"uuid": i.uuid, "host": i.host, "flavor_name": i.flavor_name, "vcpus": i.vcpus, "memory_mb": i.memory_mb,
            "root_gb": i.root_gb, "project_id": i.project_id, "image_id": i.image_id, "task_state": i.task_state,
            "created_at": i.created_at, "updated_at": i.updated_at}
