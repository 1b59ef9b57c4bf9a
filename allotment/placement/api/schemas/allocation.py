"""Schemas for allocations: PUT /allocations/{consumer} and POST /allocations, per microversion."""

from copy import deepcopy
from typing import Any

from allotment.placement.api.schemas.common import CONSUMER_TYPE_PATTERN, RC_PATTERN

_UUID_KEY = "^[0-9a-fA-F-]{36}$"
_GROUP_SUFFIX = "[a-zA-Z0-9_-]{1,64}"
_ID: dict[str, Any] = {"type": "string", "minLength": 1, "maxLength": 255}
_RESOURCES: dict[str, Any] = {
    "type": "object",
    "minProperties": 1,
    "patternProperties": {RC_PATTERN: {"type": "integer", "minimum": 1}},
    "additionalProperties": False,
}

# 1.0: a list of {resource_provider: {uuid}, resources}.
PUT_ALLOCATIONS_1_0: dict[str, Any] = {
    "type": "object",
    "properties": {
        "allocations": {
            "type": "array",
            "minItems": 1,
            "items": {
                "type": "object",
                "properties": {
                    "resource_provider": {
                        "type": "object",
                        "properties": {"uuid": {"type": "string", "format": "uuid"}},
                        "additionalProperties": False,
                        "required": ["uuid"],
                    },
                    "resources": _RESOURCES,
                },
                "required": ["resource_provider", "resources"],
                "additionalProperties": False,
            },
        }
    },
    "required": ["allocations"],
    "additionalProperties": False,
}

PUT_ALLOCATIONS_1_8 = deepcopy(PUT_ALLOCATIONS_1_0)
PUT_ALLOCATIONS_1_8["properties"]["project_id"] = _ID
PUT_ALLOCATIONS_1_8["properties"]["user_id"] = _ID
PUT_ALLOCATIONS_1_8["required"] += ["project_id", "user_id"]

# 1.12: a dict keyed by provider uuid, as GET returns it.
PUT_ALLOCATIONS_1_12: dict[str, Any] = {
    "type": "object",
    "properties": {
        "allocations": {
            "type": "object",
            "minProperties": 1,
            "patternProperties": {
                _UUID_KEY: {
                    "type": "object",
                    "properties": {"generation": {"type": "integer"}, "resources": _RESOURCES},
                    "required": ["resources"],
                    "additionalProperties": False,
                }
            },
            "additionalProperties": False,
        },
        "project_id": _ID,
        "user_id": _ID,
    },
    "additionalProperties": False,
    "required": ["allocations", "project_id", "user_id"],
}

# An empty allocations dict removes the consumer's allocations (POST /allocations, and PUT from 1.28).
DELETABLE_ALLOCATIONS = deepcopy(PUT_ALLOCATIONS_1_12)
DELETABLE_ALLOCATIONS["properties"]["allocations"]["minProperties"] = 0

POST_ALLOCATIONS_1_13: dict[str, Any] = {
    "type": "object",
    "minProperties": 1,
    "additionalProperties": False,
    "patternProperties": {_UUID_KEY: DELETABLE_ALLOCATIONS},
}

PUT_ALLOCATIONS_1_28 = deepcopy(DELETABLE_ALLOCATIONS)
PUT_ALLOCATIONS_1_28["properties"]["consumer_generation"] = {"type": ["integer", "null"]}
PUT_ALLOCATIONS_1_28["required"].append("consumer_generation")
POST_ALLOCATIONS_1_28 = deepcopy(POST_ALLOCATIONS_1_13)
POST_ALLOCATIONS_1_28["patternProperties"] = {_UUID_KEY: PUT_ALLOCATIONS_1_28}

_MAPPINGS: dict[str, Any] = {
    "type": "object",
    "minProperties": 1,
    "patternProperties": {
        _GROUP_SUFFIX: {"type": "array", "minItems": 1, "items": {"type": "string", "format": "uuid"}}
    },
}
PUT_ALLOCATIONS_1_34 = deepcopy(PUT_ALLOCATIONS_1_28)
PUT_ALLOCATIONS_1_34["properties"]["mappings"] = _MAPPINGS
POST_ALLOCATIONS_1_34 = deepcopy(POST_ALLOCATIONS_1_28)
POST_ALLOCATIONS_1_34["patternProperties"] = {_UUID_KEY: PUT_ALLOCATIONS_1_34}

PUT_ALLOCATIONS_1_38 = deepcopy(PUT_ALLOCATIONS_1_34)
PUT_ALLOCATIONS_1_38["properties"]["consumer_type"] = {
    "type": "string",
    "pattern": CONSUMER_TYPE_PATTERN,
    "minLength": 1,
    "maxLength": 255,
}
PUT_ALLOCATIONS_1_38["required"].append("consumer_type")
POST_ALLOCATIONS_1_38 = deepcopy(POST_ALLOCATIONS_1_34)
POST_ALLOCATIONS_1_38["patternProperties"] = {_UUID_KEY: PUT_ALLOCATIONS_1_38}
