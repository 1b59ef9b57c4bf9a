"""JSON schemas of the compute API's request bodies."""

from __future__ import annotations

from typing import Any

__all__ = ["ACTION", "CREATE", "FLAVOR", "MAX_COUNT"]

MAX_COUNT = 1000  # servers per create

_NAME = {"type": "string", "minLength": 1, "maxLength": 255}
_UUID = {"type": "string", "pattern": "^[0-9a-fA-F]{8}-?[0-9a-fA-F]{4}-?[0-9a-fA-F]{4}-?[0-9a-fA-F]{4}-?[0-9a-fA-F]{12}$"}
_COUNT = {"type": "integer", "minimum": 1, "maximum": MAX_COUNT}

FLAVOR: dict[str, Any] = {
    "type": "object",
    "properties": {
        "name": _NAME,
        "vcpus": {"type": "integer", "minimum": 1, "maximum": 1_000_000},
        "memory_mb": {"type": "integer", "minimum": 1, "maximum": 2_147_483_647},
        "root_gb": {"type": "integer", "minimum": 0, "maximum": 2_147_483_647},
        "ephemeral_gb": {"type": "integer", "minimum": 0, "maximum": 2_147_483_647},
        "swap": {"type": "integer", "minimum": 0, "maximum": 2_147_483_647},
        "extra_specs": {"type": "object", "additionalProperties": {"type": "string", "maxLength": 255}},
    },
    "required": ["name", "vcpus", "memory_mb"],
    "additionalProperties": False,
}

_IMAGE = {
    "type": "object",
    "properties": {
        "id": {"type": ["string", "null"], "maxLength": 255},
        "disk_format": {"type": ["string", "null"], "maxLength": 32},
        "properties": {"type": "object", "additionalProperties": {"type": "string", "maxLength": 255}},
    },
    "additionalProperties": False,
}

_HINTS = {"type": "object", "additionalProperties": {
    "oneOf": [{"type": "string"}, {"type": "array", "items": {"type": "string"}}]}}

CREATE: dict[str, Any] = {
    "type": "object",
    "properties": {
        "server": {
            "type": "object",
            "properties": {
                "name": _NAME,
                "flavor": FLAVOR,
                "image": _IMAGE,
                "availability_zone": _NAME,
                "min_count": _COUNT,
                "max_count": _COUNT,
                "return_reservation_id": {"type": "boolean"},
                "scheduler_hints": _HINTS,
                "server_group": _UUID,
            },
            "required": ["name", "flavor"],
            "additionalProperties": False,
        },
        "os:scheduler_hints": _HINTS,
    },
    "required": ["server"],
    "additionalProperties": False,
}

_NOTHING = {"type": ["null", "object"], "maxProperties": 0}

ACTION: dict[str, Any] = {
    "type": "object",
    "oneOf": [
        {"properties": {"resize": {"type": "object", "properties": {"flavor": FLAVOR}, "required": ["flavor"],
                                   "additionalProperties": False}}, "required": ["resize"]},
        {"properties": {"migrate": _NOTHING}, "required": ["migrate"]},
        {"properties": {"confirmResize": _NOTHING}, "required": ["confirmResize"]},
        {"properties": {"revertResize": _NOTHING}, "required": ["revertResize"]},
        {"properties": {"evacuate": _NOTHING}, "required": ["evacuate"]},
    ],
    "minProperties": 1,
    "maxProperties": 1,
}
