"""The scheduler's host registry: compute hosts, aggregates, server groups and instances.

    from allotment.scheduler.registry import Registry
    registry = Registry.open("sqlite:///./allotment.sqlite")
    registry.register_host("compute1", provider_uuid, {"hypervisor_type": "QEMU"})
    states = registry.host_states([provider_uuid])
"""

from allotment.scheduler.errors import (
    Conflict,
    GroupPolicyViolation,
    InvalidInput,
    NotFound,
    RegistryError,
)
from allotment.scheduler.registry.models import Aggregate, Group, Host, Instance
from allotment.scheduler.registry.registry import Registry

__all__ = [
    "Aggregate",
    "Conflict",
    "Group",
    "GroupPolicyViolation",
    "Host",
    "Instance",
    "InvalidInput",
    "NotFound",
    "Registry",
    "RegistryError",
]
