"""Schemas for resource classes and traits."""

from copy import deepcopy

from allotment.placement.api.schemas.common import CUSTOM_PATTERN

RESOURCE_CLASS_1_2 = {
    "type": "object",
    "properties": {"name": {"type": "string", "pattern": CUSTOM_PATTERN, "maxLength": 255}},
    "required": ["name"],
    "additionalProperties": False,
}

TRAIT = {"type": "string", "minLength": 1, "maxLength": 255}
CUSTOM_TRAIT = dict(TRAIT, pattern=CUSTOM_PATTERN)

PUT_PROVIDER_TRAITS = {
    "type": "object",
    "properties": {
        "traits": {"type": "array", "items": TRAIT},
        "resource_provider_generation": {"type": "integer"},
    },
    "required": ["traits", "resource_provider_generation"],
    "additionalProperties": False,
}

LIST_TRAITS = {
    "type": "object",
    "properties": {"name": {"type": "string"}, "associated": {"type": "string"}},
    "additionalProperties": False,
}

_AGGREGATE_LIST = {"type": "array", "items": {"type": "string", "format": "uuid"}, "uniqueItems": True}
PUT_AGGREGATES_1_1 = deepcopy(_AGGREGATE_LIST)
PUT_AGGREGATES_1_19 = {
    "type": "object",
    "properties": {"aggregates": deepcopy(_AGGREGATE_LIST), "resource_provider_generation": {"type": "integer"}},
    "required": ["aggregates", "resource_provider_generation"],
    "additionalProperties": False,
}
