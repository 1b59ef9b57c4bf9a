"""JSON schemas of the request bodies."""

from __future__ import annotations

from typing import Any

from allotment.scheduler.registry.models import GROUP_POLICIES

# The registry checks the spelling itself, with a clearer message than a regular expression's.
UUID = {"type": "string", "maxLength": 36}
NAME = {"type": "string", "minLength": 1, "maxLength": 255}
NULLABLE_NAME = {"type": ["string", "null"], "minLength": 1, "maxLength": 255}
COUNT = {"type": "integer", "minimum": 0, "maximum": 2**31 - 1}


def _object(properties: dict[str, Any], required: tuple[str, ...] = (), **extra: Any) -> dict[str, Any]:
    return {"type": "object", "properties": properties, "required": list(required), "additionalProperties": False,
            **extra}


HOST = _object({
    "provider_uuid": UUID,
    "cell": NULLABLE_NAME,
    "hypervisor_type": NULLABLE_NAME,
    "hypervisor_version": {"type": ["integer", "null"], "minimum": 0, "maximum": 2**63 - 1},
    "hypervisor_hostname": NULLABLE_NAME,
    "host_ip": {"type": ["string", "null"], "minLength": 1, "maxLength": 64},
    "cpu_info": {"type": "object"},
    "supported_instances": {"type": "array", "items": {"type": "array", "items": NAME, "minItems": 3, "maxItems": 3}},
    "stats": {"type": "object", "additionalProperties": {"type": "string", "maxLength": 255}},
    "failed_builds": COUNT,
}, ("provider_uuid",))

HOST_STATUS = _object({
    "disabled": {"type": "boolean"},
    "disabled_reason": NULLABLE_NAME,
    "forced_down": {"type": "boolean"},
}, minProperties=1)

_METADATA_VALUE = {"type": "string", "maxLength": 255}
AGGREGATE_CREATE = _object({
    "name": NAME,
    "uuid": UUID,
    "metadata": {"type": "object", "additionalProperties": _METADATA_VALUE, "propertyNames": {"maxLength": 255}},
}, ("name",))
AGGREGATE_UPDATE = _object({"name": NAME}, ("name",))
AGGREGATE_METADATA = _object({
    "metadata": {"type": "object", "additionalProperties": {"type": ["string", "null"], "maxLength": 255},
                 "propertyNames": {"minLength": 1, "maxLength": 255}, "minProperties": 1},
}, ("metadata",))

SERVER_GROUP = _object({
    "name": NAME,
    "policy": {"enum": list(GROUP_POLICIES)},
    "rules": _object({"max_server_per_host": {"type": "integer", "minimum": 1, "maximum": 2**31 - 1}}),
    "project_id": NAME,
    "user_id": NAME,
    "uuid": UUID,
}, ("name", "policy"))
GROUP_MEMBER = _object({"host": NAME}, ("host",))

INSTANCE = _object({
    "host": NAME,
    "flavor_name": NULLABLE_NAME,
    "vcpus": COUNT,
    "memory_mb": COUNT,
    "root_gb": COUNT,
    "project_id": NULLABLE_NAME,
    "image_id": NULLABLE_NAME,
    "task_state": NULLABLE_NAME,
})
