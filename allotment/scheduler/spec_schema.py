"""JSON schema of a serialized RequestSpec (``RequestSpec.to_dict()``), and readable messages for its errors.

The schema checks shapes and types only; rules that span fields (instance uuids per
instance, extra spec syntax, ...) are checked by ``RequestSpec.validate``.
"""

from __future__ import annotations

from typing import Any

import jsonschema

__all__ = [
    "GROUP_SUFFIX",
    "NAME",
    "SPEC_SCHEMA",
    "UUID",
    "drop_unknown_fields",
    "field_path",
    "first_error",
]

# Placement's names for resource classes and traits (standard ones and CUSTOM_*).
NAME = r"^[A-Z0-9_]{1,255}$"
# Placement's request group suffixes (microversion 1.33 and later).
GROUP_SUFFIX = r"^[a-zA-Z0-9_-]{1,64}$"
# Dashed or plain hex, as placement accepts.
UUID = r"^[0-9a-fA-F]{8}-?[0-9a-fA-F]{4}-?[0-9a-fA-F]{4}-?[0-9a-fA-F]{4}-?[0-9a-fA-F]{12}$"
# A comma-separated OR list of aggregate uuids.
_UUID_OR_LIST = r"^[0-9a-fA-F-]{32,36}(,[0-9a-fA-F-]{32,36})*$"

_STR: dict[str, Any] = {"type": "string"}
_NULLABLE_STR: dict[str, Any] = {"type": ["string", "null"]}
_COUNT: dict[str, Any] = {"type": "integer", "minimum": 0}
_STR_LIST: dict[str, Any] = {"type": "array", "items": _STR}
_STR_MAP: dict[str, Any] = {"type": "object", "additionalProperties": _STR}
_UUID_STR: dict[str, Any] = {"type": "string", "pattern": UUID}
_UUID_LIST: dict[str, Any] = {"type": "array", "items": _UUID_STR}
_AGG_LIST: dict[str, Any] = {"type": "array", "items": {"type": "string", "pattern": _UUID_OR_LIST}}
_TRAIT_LIST: dict[str, Any] = {"type": "array", "items": {"type": "string", "pattern": NAME}}


def _object(properties: dict[str, Any], required: tuple[str, ...] = ()) -> dict[str, Any]:
    return {"type": "object", "properties": properties, "required": list(required), "additionalProperties": False}


FLAVOR = _object(
    {
        "name": _STR,
        "vcpus": _COUNT,
        "memory_mb": _COUNT,
        "root_gb": _COUNT,
        "ephemeral_gb": _COUNT,
        "swap": _COUNT,
        "extra_specs": _STR_MAP,
    },
    required=("name", "vcpus", "memory_mb"),
)

IMAGE = _object({"id": _NULLABLE_STR, "disk_format": _NULLABLE_STR, "properties": _STR_MAP})

SERVER_GROUP = _object(
    {
        "uuid": _UUID_STR,
        "policy": {"enum": ["affinity", "anti-affinity", "soft-affinity", "soft-anti-affinity"]},
        "rules": {"type": "object", "additionalProperties": {"type": "integer", "minimum": 1}},
        "members": _UUID_LIST,
        "hosts": _STR_LIST,
    },
    required=("uuid", "policy"),
)

DESTINATION = _object(
    {
        "host": _NULLABLE_STR,
        "node": _NULLABLE_STR,
        "cell": _NULLABLE_STR,
        "aggregates": _AGG_LIST,
        "forbidden_aggregates": _UUID_LIST,
    }
)

REQUEST_GROUP = _object(
    {
        "suffix": {"type": "string", "pattern": r"^([a-zA-Z0-9_-]{1,64})?$"},
        "resources": {
            "type": "object",
            "propertyNames": {"pattern": NAME},
            "additionalProperties": _COUNT,
        },
        "required_traits": _TRAIT_LIST,
        "forbidden_traits": _TRAIT_LIST,
        "any_traits": {"type": "array", "items": {**_TRAIT_LIST, "minItems": 1}},
        "member_of": _AGG_LIST,
        "forbidden_aggregates": _UUID_LIST,
        "in_tree": {"type": ["string", "null"], "pattern": UUID},
        "requester_id": _NULLABLE_STR,
        "provider_uuids": _UUID_LIST,
    }
)

REQUEST_LEVEL_PARAMS = _object(
    {
        "root_required": _TRAIT_LIST,
        "root_forbidden": _TRAIT_LIST,
        "same_subtree": {
            "type": "array",
            "items": {"type": "array", "minItems": 1, "items": {"type": "string", "pattern": GROUP_SUFFIX}},
        },
    }
)

SPEC_SCHEMA: dict[str, Any] = _object(
    {
        "version": {"type": "string", "pattern": r"^[0-9]+\.[0-9]+$"},
        "flavor": FLAVOR,
        "image": IMAGE,
        "project_id": {"type": "string", "maxLength": 255},
        "user_id": {"type": "string", "maxLength": 255},
        "num_instances": {"type": "integer", "minimum": 1},
        "instance_uuids": _UUID_LIST,
        "availability_zone": _NULLABLE_STR,
        "scheduler_hints": {"type": "object", "additionalProperties": _STR_LIST},
        "instance_group": {**SERVER_GROUP, "type": ["object", "null"]},
        "force_hosts": _STR_LIST,
        "force_nodes": _STR_LIST,
        "ignore_hosts": _STR_LIST,
        "requested_destination": {**DESTINATION, "type": ["object", "null"]},
        "is_bfv": {"type": "boolean"},
        "requested_resources": {"type": "array", "items": REQUEST_GROUP},
        "request_level_params": REQUEST_LEVEL_PARAMS,
        "instance_uuid": {"type": ["string", "null"], "pattern": UUID},
    },
    required=("flavor",),
)

_PATTERN_NAMES = {
    NAME: "a placement name (1 to 255 of A-Z, 0-9 and _)",
    GROUP_SUFFIX: "a request group suffix (1 to 64 of a-z, A-Z, 0-9, _ and -)",
    UUID: "a UUID",
    _UUID_OR_LIST: "a UUID or a comma-separated list of UUIDs",
}

_VALIDATOR = jsonschema.Draft202012Validator(SPEC_SCHEMA)


def field_path(path: Any) -> str:
    """``["requested_resources", 0, "resources"]`` -> ``requested_resources[0].resources``."""
    out = ""
    for part in path:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else str(part))
    return out or "(top level)"


def _describe(error: jsonschema.ValidationError) -> str:
    where = field_path(error.absolute_path)
    if error.validator == "additionalProperties" and isinstance(error.instance, dict):
        allowed = error.schema.get("properties", {})
        unknown = sorted(k for k in error.instance if k not in allowed)
        prefix = "" if where == "(top level)" else where + "."
        return f"unknown field(s): {', '.join(prefix + k for k in unknown)}"
    if error.validator == "required" and isinstance(error.instance, dict):
        prefix = "" if where == "(top level)" else where + "."
        missing = [k for k in error.validator_value if k not in error.instance]
        return f"missing required field(s): {', '.join(prefix + k for k in missing)}"
    if error.validator == "pattern" and error.validator_value in _PATTERN_NAMES:
        return f"{where}: {error.instance!r} is not {_PATTERN_NAMES[error.validator_value]}"
    return f"{where}: {error.message}"


def first_error(data: Any) -> str | None:
    """A message naming the first bad field of a serialized spec, or None when it fits the schema."""
    errors = sorted(_VALIDATOR.iter_errors(data), key=lambda e: (list(map(str, e.absolute_path)), e.validator))
    return _describe(errors[0]) if errors else None


def drop_unknown_fields(data: Any, schema: dict[str, Any] = SPEC_SCHEMA) -> Any:
    """A copy of ``data`` without the fields ``schema`` does not know (fields of a newer minor version)."""
    if isinstance(data, dict) and "properties" in schema:
        props = schema["properties"]
        return {k: drop_unknown_fields(v, props[k]) for k, v in data.items() if k in props}
    if isinstance(data, list) and isinstance(schema.get("items"), dict):
        return [drop_unknown_fields(v, schema["items"]) for v in data]
    return data
