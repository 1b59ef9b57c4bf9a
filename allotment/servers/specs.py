"""What a create asks for, stored with each server (``srv_build_requests.request_spec``), and the RequestSpec built from it."""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any

from allotment.scheduler.placement_query import request_groups
from allotment.scheduler.spec import Flavor, Image, RequestSpec

__all__ = ["DEFAULT_CELL", "flavor_of", "flavor_resources", "image_of", "request_spec"]

# The cell of hosts registered without one.
DEFAULT_CELL = "cell1"
# Where servers that never got a host live, as in Nova.
CELL0 = "cell0"

FLAVOR_KEYS = ("name", "vcpus", "memory_mb", "root_gb", "ephemeral_gb", "swap", "extra_specs")


def flavor_of(data: Mapping[str, Any]) -> Flavor:
    return Flavor(name=str(data["name"]), vcpus=int(data["vcpus"]), memory_mb=int(data["memory_mb"]),
                  root_gb=int(data.get("root_gb", 0)), ephemeral_gb=int(data.get("ephemeral_gb", 0)),
                  swap=int(data.get("swap", 0)), extra_specs=dict(data.get("extra_specs") or {}))


def image_of(data: Mapping[str, Any]) -> Image:
    return Image(id=data.get("id"), disk_format=data.get("disk_format"), properties=dict(data.get("properties") or {}))


def flavor_resources(flavor: Mapping[str, Any]) -> dict[str, int]:
    """What a server of ``flavor`` holds on its host's root provider: the scheduler's unsuffixed group.

    With extra specs that is what the scheduler asks for (``PCPU`` for ``hw:cpu_policy``
    dedicated or mixed, ``resources:CLASS`` overrides); suffixed groups (PCI devices) are not
    counted. Image properties are not looked at.
    """
    if flavor.get("extra_specs"):
        spec = RequestSpec.from_flavor(flavor_of(flavor), project_id="audit", user_id="audit")
        groups, _ = request_groups(spec)
        return dict(groups[0].resources) if groups and groups[0].suffix == "" else {}
    out = {"VCPU": int(flavor["vcpus"]), "MEMORY_MB": int(flavor["memory_mb"]),
           "DISK_GB": int(flavor.get("root_gb", 0)) + int(flavor.get("ephemeral_gb", 0))
           + math.ceil(int(flavor.get("swap", 0)) / 1024)}
    return {rc: n for rc, n in out.items() if n}


def request_spec(stored: Mapping[str, Any], instance_uuids: Sequence[str], *,
                 flavor: Mapping[str, Any] | None = None, ignore_hosts: Sequence[str] = ()) -> RequestSpec:
    """The scheduler's spec for ``instance_uuids`` from a stored create request (``flavor`` replaces its flavor)."""
    hints: dict[str, Any] = {k: v for k, v in (stored.get("hints") or {}).items()}
    if stored.get("server_group"):
        hints["group"] = [stored["server_group"]]  # the scheduler reads policy and members from its registry
    return RequestSpec.from_flavor(flavor_of(flavor or stored["flavor"]), image_of(stored.get("image") or {}),
                                   project_id=stored["project_id"], user_id=stored["user_id"], hints=hints,
                                   num_instances=len(instance_uuids), instance_uuids=list(instance_uuids),
                                   availability_zone=stored.get("availability_zone"), ignore_hosts=ignore_hosts)
